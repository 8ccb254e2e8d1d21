//go:build counter

package main

import (
	"strconv"

	"github.com/hashicorp/go-plugin/examples/bidirectional/shared"
	"github.com/podplug/podplug/test/go/internal/peer"
)

const pluginName = "counter"

var pluginImpl = &shared.CounterPlugin{}

// adder is the AddHelper the host serves over the broker; each call the
// plugin makes back into the host is reported as a "callback" event.
type adder struct{}

func (adder) Sum(a, b int64) (int64, error) {
	peer.Emit("callback", map[string]any{"a": a, "b": b})
	return a + b, nil
}

func get(raw any, key string) error {
	v, err := raw.(shared.Counter).Get(key)
	if err == nil {
		peer.Emit("get", map[string]any{"key": key, "value": v})
	}
	return err
}

func put(raw any, key, value string) error {
	n, err := strconv.ParseInt(value, 10, 64)
	if err == nil {
		err = raw.(shared.Counter).Put(key, n, adder{})
	}
	if err == nil {
		peer.Emit("put", map[string]any{"key": key})
	}
	return err
}
