//go:build counter

package main

import (
	"fmt"

	"github.com/hashicorp/go-plugin/examples/bidirectional/shared"
)

func init() {
	modes["counter"] = mode{plugin: &shared.CounterPlugin{}, bench: func(raw any, o options) error {
		c := raw.(shared.Counter)
		// One key per worker: the plugin reads, adds through the host, and writes its key's file.
		return callBench(o, func(worker int) error {
			return c.Put(fmt.Sprintf("bench-%d", worker), 1, adder{})
		})
	}}
}

// adder is the host's AddHelper the counter plugin calls back (through the broker) on every Put.
type adder struct{}

func (adder) Sum(a, b int64) (int64, error) { return a + b, nil }
