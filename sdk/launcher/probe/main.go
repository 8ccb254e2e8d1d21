// Command podplug-probe answers an exec liveness or readiness probe for a
// plugin run by podplug-launcher (`podplug-launcher probe` runs it): exit 0
// when the plugin's health service says SERVING, 1 with the reason on
// stderr otherwise. A separate binary so the launcher, which stays resident
// beside every plugin, carries no gRPC.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// The environment the injection sets (src/constants.ts names them).
const (
	envHandshakeFile = "PODPLUG_HANDSHAKE_FILE"
	envPluginName    = "PODPLUG_PLUGIN_NAME"
	envMTLSRoot      = "PODPLUG_MTLS_ROOT"
	healthService    = "plugin"
)

func main() {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 800*time.Millisecond, "deadline of the whole check (keep it inside the probe's timeoutSeconds)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := probe(os.Getenv, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "podplug-launcher: %s [LAUNCHER_PROBE_FAILED]\n", err)
		// 3: no answer in time (hung); 1: any other failure. The kubelet takes both as a failed probe.
		var na *noAnswer
		if errors.As(err, &na) {
			os.Exit(3)
		}
		os.Exit(1)
	}
	fmt.Println("SERVING")
}
