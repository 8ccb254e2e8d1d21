//go:build !counter

package main

import (
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
	"github.com/podplug/podplug/test/go/internal/peer"
)

const pluginName = "kv"

var pluginImpl = &shared.KVGRPCPlugin{}

func get(raw any, key string) error {
	v, err := raw.(shared.KV).Get(key)
	switch {
	case err != nil:
	case lengths:
		peer.Emit("get", map[string]any{"key": key, "length": len(v)})
	default:
		peer.Emit("get", map[string]any{"key": key, "value": string(v)})
	}
	return err
}

func put(raw any, key, value string) error {
	err := raw.(shared.KV).Put(key, []byte(value))
	if err == nil {
		peer.Emit("put", map[string]any{"key": key})
	}
	return err
}
