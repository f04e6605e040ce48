// Command pause is the pod sandbox ("infra") process of the local test
// cluster: it holds the pod's namespaces, sleeps until SIGTERM/SIGINT and
// reaps any zombie children re-parented to it (it is PID 1 of the pod when
// the pod shares its process namespace). Equivalent to registry.k8s.io/pause,
// built from source because this machine reaches no image registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (milvus-migrate test cluster)\n")
		return
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		switch s {
		case syscall.SIGCHLD:
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		default:
			os.Exit(0)
		}
	}
}
