// Command benchhost measures a plugin from a go-plugin host. -mode picks the
// plugin interface and the call measured:
//
//	kv       go-plugin's examples/grpc: -n sequential Get calls, then -m Get
//	         calls with -inflight in flight, of a value of -size bytes Put once
//	stream   go-plugin's examples/streaming: the plugin is Configured with a
//	         file of -size bytes and -chunk bytes a message; -n sequential
//	         server-streaming Reads, each received to its last message
//	counter  go-plugin's examples/bidirectional: Put, which makes the plugin
//	         call back once into the host's AddHelper through the broker; -n
//	         sequential, then -m with -inflight in flight (one key per worker).
//	         Build tag "counter" only (benchhost-counter): examples/grpc and
//	         examples/bidirectional both register proto/kv.proto, which Go's
//	         protobuf registry refuses in one program; that build has no kv.
//
// It prints one JSON object:
//
//	{"medianUs":…,"p99Us":…,"throughput":…,"sequential":{…},"concurrent":{…}}
//
// medianUs and p99Us are the sequential latencies (stream: time to the last
// message of a Read; firstUs, its median time to the first). throughput is
// calls per second at -inflight (stream: messages per second over the
// sequential Reads; counter: Puts, each one callback). With go-plugin's own
// Go plugins this is the Go → Go reference the TypeScript figures are
// compared with.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

type stats struct {
	Calls    int     `json:"calls"`
	InFlight int     `json:"inFlight"`
	MedianUs float64 `json:"medianUs"`
	P99Us    float64 `json:"p99Us"`
	// Throughput is completed calls per second.
	Throughput float64 `json:"throughput"`
}

type options struct {
	cmdLine, mode, path string
	n, m, inflight      int
	warmup, size, chunk int
	autoMTLS            bool
}

func main() {
	var o options
	flag.StringVar(&o.cmdLine, "cmd", "", "plugin command, run with sh -c 'exec <cmd>'")
	flag.StringVar(&o.mode, "mode", "kv", "kv, stream or counter (see the package comment)")
	flag.IntVar(&o.n, "n", 2000, "sequential calls")
	flag.IntVar(&o.m, "m", 20000, "concurrent calls (kv, counter)")
	flag.IntVar(&o.inflight, "inflight", 64, "calls in flight in the concurrent run")
	flag.IntVar(&o.warmup, "warmup", 200, "calls before measuring")
	flag.BoolVar(&o.autoMTLS, "automtls", false, "ClientConfig.AutoMTLS")
	flag.IntVar(&o.size, "size", 5, "kv: bytes of the value Put once and read by every Get; stream: bytes of the file")
	flag.IntVar(&o.chunk, "chunk", 1024, "stream: bytes a message")
	flag.StringVar(&o.path, "path", "", "stream: the file the plugin streams (written here with -size bytes)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchhost:", err)
		os.Exit(1)
	}
}

// mode is one -mode: its plugin-map entry and its benchmark of the dispensed plugin.
type mode struct {
	plugin plugin.Plugin
	bench  func(raw any, o options) error
}

// modes are filled by the files of each mode (kv.go, counter.go, stream.go).
var modes = map[string]mode{}

func run(o options) error {
	if o.cmdLine == "" {
		return fmt.Errorf("-cmd is required")
	}
	md, ok := modes[o.mode]
	if !ok {
		names := make([]string, 0, len(modes))
		for n := range modes {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("-mode %q: this build has %v", o.mode, names)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "BASIC_PLUGIN", MagicCookieValue: "hello"},
		Plugins:          plugin.PluginSet{o.mode: md.plugin},
		Cmd:              exec.Command("sh", "-c", "exec "+o.cmdLine),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         o.autoMTLS,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return err
	}
	raw, err := rpc.Dispense(o.mode)
	if err != nil {
		return err
	}
	return md.bench(raw, o)
}

// callBench runs call -warmup times, -n times one at a time, then -m times
// with -inflight workers (call gets the worker's number), and prints the figures.
func callBench(o options, call func(worker int) error) error {
	for range o.warmup {
		if err := call(0); err != nil {
			return err
		}
	}
	seq := make([]time.Duration, o.n)
	start := time.Now()
	for i := range seq {
		t := time.Now()
		if err := call(0); err != nil {
			return err
		}
		seq[i] = time.Since(t)
	}
	sequential := summarize(seq, 1, time.Since(start))

	conc := make([]time.Duration, o.m)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start = time.Now()
	for w := range o.inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(o.m); i = next.Add(1) - 1 {
				t := time.Now()
				if err := call(w); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				conc[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	concurrent := summarize(conc, o.inflight, time.Since(start))
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"medianUs":   sequential.MedianUs,
		"p99Us":      sequential.P99Us,
		"throughput": concurrent.Throughput,
		"sequential": sequential,
		"concurrent": concurrent,
	})
}

func summarize(d []time.Duration, inflight int, total time.Duration) stats {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	us := func(q float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) / 1e3
	}
	return stats{
		Calls: len(d), InFlight: inflight, MedianUs: us(0.5), P99Us: us(0.99),
		Throughput: float64(len(d)) / total.Seconds(),
	}
}
