// Command benchhost measures a kv plugin from a go-plugin host: -n
// sequential Get calls, then -m Get calls with -inflight in flight, of a
// value of -size bytes Put once before. It
// prints one JSON object:
//
//	{"medianUs":…,"p99Us":…,"throughput":…,"sequential":{…},"concurrent":{…}}
//
// medianUs and p99Us are the sequential latencies, throughput is calls per
// second at -inflight. With the Go kv plugin of go-plugin's examples/grpc,
// this is the Go → Go reference the TypeScript figures are compared with.
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
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
)

type stats struct {
	Calls    int     `json:"calls"`
	InFlight int     `json:"inFlight"`
	MedianUs float64 `json:"medianUs"`
	P99Us    float64 `json:"p99Us"`
	// Throughput is completed calls per second.
	Throughput float64 `json:"throughput"`
}

func main() {
	cmdLine := flag.String("cmd", "", "plugin command, run with sh -c 'exec <cmd>'")
	n := flag.Int("n", 2000, "sequential calls")
	m := flag.Int("m", 20000, "concurrent calls")
	inflight := flag.Int("inflight", 64, "calls in flight in the concurrent run")
	warmup := flag.Int("warmup", 200, "calls before measuring")
	autoMTLS := flag.Bool("automtls", false, "ClientConfig.AutoMTLS")
	size := flag.Int("size", 5, "bytes of the value Put once and then read by every Get")
	flag.Parse()
	if err := run(*cmdLine, *n, *m, *inflight, *warmup, *autoMTLS, *size); err != nil {
		fmt.Fprintln(os.Stderr, "benchhost:", err)
		os.Exit(1)
	}
}

func run(cmdLine string, n, m, inflight, warmup int, autoMTLS bool, size int) error {
	if cmdLine == "" {
		return fmt.Errorf("-cmd is required")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          plugin.PluginSet{"kv": &shared.KVGRPCPlugin{}},
		Cmd:              exec.Command("sh", "-c", "exec "+cmdLine),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         autoMTLS,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return err
	}
	raw, err := rpc.Dispense("kv")
	if err != nil {
		return err
	}
	kv := raw.(shared.KV)
	value := []byte("value")
	if size != len(value) {
		value = make([]byte, size)
	}
	if err := kv.Put("bench", value); err != nil {
		return err
	}
	for range warmup {
		if _, err := kv.Get("bench"); err != nil {
			return err
		}
	}

	seq := make([]time.Duration, n)
	start := time.Now()
	for i := range seq {
		t := time.Now()
		if _, err := kv.Get("bench"); err != nil {
			return err
		}
		seq[i] = time.Since(t)
	}
	sequential := summarize(seq, 1, time.Since(start))

	conc := make([]time.Duration, m)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start = time.Now()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(m); i = next.Add(1) - 1 {
				t := time.Now()
				if _, err := kv.Get("bench"); err != nil {
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
	concurrent := summarize(conc, inflight, time.Since(start))

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
