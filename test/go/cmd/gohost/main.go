// Command gohost is a go-plugin host for the interop tests. It launches a
// plugin command (-cmd, run with sh -c like go-plugin's examples) or
// reattaches to a sidecar plugin in a socket folder (-attach, through
// podplug's sdk/go), then runs the operations given as arguments and prints
// one JSON line per result on stdout. The hclog output it receives from the
// plugin goes, as JSON lines, to stderr.
//
// Operations: get K | put K V | putn K SIZE (SIZE bytes of "x") | ping |
// close | kill | wait-exit | sleep MS | rogue-dial. With -lengths, get
// reports the value's length instead of the value. Build tag "counter" switches the plugin from kv to counter.
//
//	gohost -cmd 'node examples/kv/plugin.ts' put a 1 get a
//	gohost -attach /var/run/podplug/kv -keep get a
//	gohost -attach /var/run/podplug/kv -attach-version 1 get a   (a plugin with no handshake file)
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	podplug "github.com/podplug/podplug/sdk/go"
	"github.com/podplug/podplug/test/go/internal/peer"
)

func main() {
	cmdLine := flag.String("cmd", "", "plugin command, run with sh -c 'exec <cmd>'")
	attach := flag.String("attach", "", "reattach to the sidecar plugin in this socket folder")
	attachVersion := flag.Int("attach-version", 0, "with -attach: the protocol version of a plugin that writes no handshake file (podplug.Options.ProtocolVersion)")
	checksum := flag.String("checksum", "", "ClientConfig.SecureConfig: sha256 of the plugin executable, hex; the command then runs without sh (its words split on spaces), so the checksum is the plugin's, not sh's")
	reattach := flag.String("reattach", "", "ClientConfig.Reattach from one ReattachConfig in TF_REATTACH_PROVIDERS's JSON shape")
	autoMTLS := flag.Bool("automtls", false, "ClientConfig.AutoMTLS")
	mux := flag.Bool("mux", false, "ClientConfig.GRPCBrokerMultiplex (PLUGIN_MULTIPLEX_GRPC)")
	versions := flag.String("versions", "1", "protocol versions offered, comma separated")
	cookie := flag.String("cookie", "BASIC_PLUGIN=hello", "magic cookie KEY=VALUE")
	startTimeout := flag.Duration("start-timeout", 30*time.Second, "ClientConfig.StartTimeout")
	keep := flag.Bool("keep", false, "do not Kill the client at the end")
	flag.BoolVar(&lengths, "lengths", false, "get reports len(value) instead of the value")
	flag.Parse()

	hs, vs, err := peer.Handshake(*cookie, *versions, plugin.PluginSet{pluginName: pluginImpl})
	if err != nil {
		peer.Fail("flags", err)
	}
	cfg := &plugin.ClientConfig{
		HandshakeConfig:     hs,
		VersionedPlugins:    vs,
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:            *autoMTLS,
		GRPCBrokerMultiplex: *mux,
		StartTimeout:        *startTimeout,
		SyncStdout:          peer.StdioWriter("stdout"),
		SyncStderr:          peer.StdioWriter("stderr"),
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin", Level: hclog.Trace, Output: os.Stderr, JSONFormat: true,
		}),
	}
	var client *plugin.Client
	switch {
	case *reattach != "":
		rc, err := peer.ParseReattach(*reattach)
		if err != nil {
			peer.Fail("reattach", err)
		}
		cfg.Reattach = rc
		// A non-Test reattach dispenses from Plugins, never VersionedPlugins (go-plugin negotiates nothing).
		cfg.Plugins = vs[rc.ProtocolVersion]
		client = plugin.NewClient(cfg)
	case *cmdLine != "" && *attach == "" && *checksum != "":
		sum, err := hex.DecodeString(*checksum)
		if err != nil {
			peer.Fail("flags", err)
		}
		words := strings.Fields(*cmdLine)
		cfg.Cmd = exec.Command(words[0], words[1:]...)
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
		client = plugin.NewClient(cfg)
	case *cmdLine != "" && *attach == "":
		cfg.Cmd = exec.Command("sh", "-c", "exec "+*cmdLine)
		client = plugin.NewClient(cfg)
	case *attach != "" && *cmdLine == "":
		if err := podplug.SetBrokerDir(*attach); err != nil {
			peer.Fail("attach", err)
		}
		client, err = podplug.Attach(context.Background(), cfg, *attach, podplug.Options{ProtocolVersion: *attachVersion, PollInterval: 200 * time.Millisecond})
		if err != nil {
			peer.Fail("attach", err)
		}
	default:
		peer.Fail("flags", fmt.Errorf("give exactly one of -cmd and -attach"))
	}

	code := run(client, flag.Args())
	if !*keep {
		client.Kill()
	}
	os.Exit(code)
}

func run(client *plugin.Client, ops []string) int {
	rpc, err := client.Client()
	if err != nil {
		peer.Emit("error", map[string]any{"op": "start", "error": err.Error()})
		return 1
	}
	addr, _ := client.Start()
	peer.Emit("started", map[string]any{
		"protocol": client.Protocol(), "version": client.NegotiatedVersion(),
		"network": addr.Network(), "addr": addr.String(),
	})
	raw, err := rpc.Dispense(pluginName)
	if err != nil {
		peer.Emit("error", map[string]any{"op": "dispense", "error": err.Error()})
		return 1
	}
	for len(ops) > 0 {
		op := ops[0]
		var n int
		switch op {
		case "get":
			n, err = 1, get(raw, arg(ops, 1))
		case "put":
			n, err = 2, put(raw, arg(ops, 1), arg(ops, 2))
		case "putn":
			size, _ := strconv.Atoi(arg(ops, 2))
			n, err = 2, put(raw, arg(ops, 1), strings.Repeat("x", size))
		case "ping":
			if err = rpc.Ping(); err == nil {
				peer.Emit("ping", map[string]any{"ok": true})
			}
		case "close":
			err = rpc.Close()
			peer.Emit("close", nil)
		case "kill":
			client.Kill()
			peer.Emit("kill", map[string]any{"exited": client.Exited()})
		case "wait-exit":
			deadline := time.Now().Add(10 * time.Second)
			for !client.Exited() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			peer.Emit("exited", map[string]any{"exited": client.Exited()})
		case "sleep":
			ms, _ := strconv.Atoi(arg(ops, 1))
			n = 1
			time.Sleep(time.Duration(ms) * time.Millisecond)
		case "rogue-dial":
			rogueDial(addr)
		default:
			err = fmt.Errorf("unknown operation %q", op)
		}
		if err != nil {
			peer.Emit("error", map[string]any{"op": op, "error": err.Error()})
			return 1
		}
		ops = ops[1+n:]
	}
	return 0
}

// lengths makes get report the value's length (for big values).
var lengths bool

func arg(ops []string, i int) string {
	if i < len(ops) {
		return ops[i]
	}
	peer.Fail(ops[0], fmt.Errorf("missing argument %d", i))
	return ""
}
