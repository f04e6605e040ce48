// Command kube is a hyperkube-style multi-call binary holding every program a
// single-node test cluster needs: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kube-proxy, kubelet and kubectl.
//
// It dispatches on basename(argv[0]) (symlink it under those names) or, when
// called as "kube", on its first argument: `kube kubectl get nodes`.
//
// Test set-up only (see test/setup/cluster/build.sh); the blank imports below
// are the side-effect imports of the upstream mains.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "time/tzdata" // CronJob time zones (kube-apiserver, controller-manager)

	_ "k8s.io/client-go/plugin/pkg/client/auth"            // kubectl auth plugins
	_ "k8s.io/component-base/logs/json/register"           // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo"  // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/restclient" // kubelet rest client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"   // version metric
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	if name == "kube" || name == "hyperkube" {
		if len(os.Args) < 2 {
			usage()
			os.Exit(2)
		}
		name = os.Args[1]
		args = os.Args[1:]
	}
	// cobra commands read os.Args[1:] by default; make them see their own args.
	os.Args = args

	var command *cobra.Command
	switch name {
	case "etcd":
		etcdmain.Main(args)
		return
	case "kubectl":
		command = cmd.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(command); err != nil {
			util.CheckErr(err)
		}
		return
	case "kube-apiserver":
		command = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "kube-scheduler":
		command = scheduler.NewSchedulerCommand()
	case "kube-proxy":
		command = proxy.NewProxyCommand()
	case "kubelet":
		command = kubelet.NewKubeletCommand(context.Background())
	default:
		usage()
		os.Exit(2)
	}
	os.Exit(cli.Run(command))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kube {etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet|kubectl} [args...]")
	fmt.Fprintln(os.Stderr, "       (or call it through a symlink with one of those names)")
}
