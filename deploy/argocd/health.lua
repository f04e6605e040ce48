-- Argo CD health check for migration.milvus.io/MilvusMigration. Install it under
-- resource.customizations.health.migration.milvus.io_MilvusMigration in argocd-cm (docs/gitops.md).
-- It reads the same fields kstatus reads (observedGeneration, Ready, Reconciling, Stalled) and the
-- phase, so Argo CD and Flux agree on every status the controller writes.
local hs = {}

local function condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. (c.message or "")
  end
  return c.message or ""
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to pick the migration up"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to act on the latest spec"
  return hs
end

local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

if status.phase == "Canceled" then
  hs.status = "Suspended"
  hs.message = "Suspended (spec.suspend): what was copied stays; set suspend to false to resume"
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Failed"
  if ready ~= nil then
    hs.message = describe(ready)
  end
  return hs
end

hs.status = "Progressing"
hs.message = status.phase
if status.progress ~= nil then
  hs.message = hs.message .. " " .. status.progress
end
if status.rows ~= nil then
  hs.message = hs.message .. " (" .. status.rows .. " rows)"
end
return hs
