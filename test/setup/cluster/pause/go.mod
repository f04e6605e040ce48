// Tiny static "pause" program used as the pod sandbox image of the test
// cluster (containerd's sandbox_image); built locally, never pulled.
module milvus-migrate.local/pause

go 1.22
