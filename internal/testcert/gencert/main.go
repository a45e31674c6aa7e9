// Command gencert writes a throwaway CA and a server certificate for
// 127.0.0.1 into a directory (server.crt, server.key, ca.crt), for tests
// outside server/, which cannot import package testcert: the built
// binary's TLS test runs it. Nothing it makes is for production.
//
//	go run ./server/internal/testcert/gencert DIR
package main

import (
	"fmt"
	"os"

	"github.com/mqttds/mqttds/internal/testcert"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencert DIR")
		os.Exit(2)
	}
	ca, err := testcert.NewCA()
	if err == nil {
		_, _, _, err = ca.WriteFiles(os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencert:", err)
		os.Exit(1)
	}
}
