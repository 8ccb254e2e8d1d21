// A Go counter plugin (go-plugin's examples/bidirectional protocol)
// instrumented as a go-plugin user would instrument one with OpenTelemetry:
// otelgrpc's stats handlers on its gRPC server (go-plugin's GRPCServer
// factory) and on the broker connection it dials for the host's AddHelper
// callback, W3C trace context, spans exported over OTLP/HTTP as the OTEL_*
// variables say. test/tracing checks it joins the TS host's trace.
package main

import (
	"context"
	"os"
	"strconv"
	"sync"

	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/bidirectional/proto"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
)

type counter struct {
	broker *plugin.GRPCBroker
	mu     sync.Mutex
	values map[string]int64
	proto.UnimplementedCounterServer
}

// Put asks the host's AddHelper for the sum, inside the server span of this call.
func (c *counter) Put(ctx context.Context, req *proto.PutRequest) (*proto.Empty, error) {
	conn, err := c.broker.DialWithOptions(req.AddServer, grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	c.mu.Lock()
	old := c.values[req.Key]
	c.mu.Unlock()
	r, err := proto.NewAddHelperClient(conn).Sum(ctx, &proto.SumRequest{A: old, B: req.Value})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.values[req.Key] = r.R
	c.mu.Unlock()
	return &proto.Empty{}, nil
}

func (c *counter) Get(_ context.Context, req *proto.GetRequest) (*proto.GetResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &proto.GetResponse{Value: c.values[req.Key]}, nil
}

type counterPlugin struct{ plugin.Plugin }

func (p *counterPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterCounterServer(s, &counter{broker: broker, values: map[string]int64{}})
	return nil
}

func (p *counterPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, nil
}

func main() {
	exporter, err := otlptracehttp.New(context.Background())
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	version, _ := strconv.Atoi(os.Getenv("COUNTER_PROTOCOL_VERSION"))
	if version == 0 {
		version = 1
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  uint(version),
			MagicCookieKey:   "BASIC_PLUGIN",
			MagicCookieValue: "hello",
		},
		Plugins: map[string]plugin.Plugin{"counter": &counterPlugin{}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler()))...)
		},
	})
	// Serve returns when the host stops the plugin: export what is queued.
	_ = tp.Shutdown(context.Background())
}
