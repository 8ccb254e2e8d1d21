package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/streaming/proto"
	"google.golang.org/grpc"
)

// The plugin-map name is the mode's, "stream"; go-plugin's example host says
// "streamer", but only the gRPC service name is on the wire.
func init() {
	modes["stream"] = mode{plugin: rawStreamer{}, bench: func(raw any, o options) error {
		return streamBench(raw.(proto.StreamerServiceClient), o)
	}}
}

// rawStreamer dispenses the generated client of examples/streaming, so each
// message can be counted and timed as it arrives (the example's own client
// only returns the concatenation).
type rawStreamer struct{ plugin.NetRPCUnsupportedPlugin }

func (rawStreamer) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("host side only")
}

func (rawStreamer) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return proto.NewStreamerServiceClient(c), nil
}

// streamBench writes -size bytes to -path, Configures the plugin with it and
// -chunk, then times -n Reads (after -warmup): to the first and to the last message.
func streamBench(c proto.StreamerServiceClient, o options) error {
	if o.path == "" {
		return fmt.Errorf("-path is required with -mode stream")
	}
	if err := os.WriteFile(o.path, make([]byte, o.size), 0o600); err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := c.Configure(ctx, &proto.Configure_Request{Path: o.path, ChunkSize: int64(o.chunk)}); err != nil {
		return err
	}
	want := (o.size + o.chunk - 1) / o.chunk
	read := func() (first, last time.Duration, err error) {
		t := time.Now()
		s, err := c.Read(ctx, &proto.Read_Request{})
		if err != nil {
			return 0, 0, err
		}
		got := 0
		for {
			_, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, 0, err
			}
			if got == 0 {
				first = time.Since(t)
			}
			got++
		}
		if got != want {
			return 0, 0, fmt.Errorf("read %d messages, want %d", got, want)
		}
		return first, time.Since(t), nil
	}
	for range o.warmup {
		if _, _, err := read(); err != nil {
			return err
		}
	}
	firsts := make([]time.Duration, o.n)
	lasts := make([]time.Duration, o.n)
	start := time.Now()
	for i := range o.n {
		f, l, err := read()
		if err != nil {
			return err
		}
		firsts[i], lasts[i] = f, l
	}
	total := time.Since(start)
	ttl := summarize(lasts, 1, total)
	ttf := summarize(firsts, 1, total)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"medianUs":   ttl.MedianUs,
		"p99Us":      ttl.P99Us,
		"firstUs":    ttf.MedianUs,
		"throughput": float64(o.n*want) / total.Seconds(),
		"messages":   want,
	})
}
