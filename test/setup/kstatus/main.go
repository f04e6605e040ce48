// kstatus-check prints the kstatus verdict (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, the
// library Flux and kpt use) for each Kubernetes object in the JSON array on stdin: a JSON array of
// {"status": "InProgress|Failed|Current|Terminating|NotFound|Unknown", "message": "..."}.
// Test set-up only: the tests check the operator's status objects against the real rules.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var objs []json.RawMessage
	if err := json.Unmarshal(in, &objs); err != nil {
		fmt.Fprintln(os.Stderr, "stdin must be a JSON array of objects:", err)
		os.Exit(2)
	}
	out := make([]verdict, 0, len(objs))
	for _, raw := range objs {
		// UnmarshalJSON keeps integers as int64, which kstatus's field accessors require.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		res, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out = append(out, verdict{Status: res.Status.String(), Message: res.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
