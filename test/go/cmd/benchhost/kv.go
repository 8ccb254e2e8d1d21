//go:build !counter

package main

import "github.com/hashicorp/go-plugin/examples/grpc/shared"

func init() {
	modes["kv"] = mode{plugin: &shared.KVGRPCPlugin{}, bench: kvBench}
}

// kvBench Puts a value of -size bytes once, then measures Get of it.
func kvBench(raw any, o options) error {
	kv := raw.(shared.KV)
	value := []byte("value")
	if o.size != len(value) {
		value = make([]byte, o.size)
	}
	if err := kv.Put("bench", value); err != nil {
		return err
	}
	return callBench(o, func(int) error {
		_, err := kv.Get("bench")
		return err
	})
}
