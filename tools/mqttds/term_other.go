//go:build !linux

package main

import (
	"errors"
	"os"
)

// isTerminal reports whether f is a character device, which is as close as this platform gets
// without a terminal library.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readNoEcho cannot turn echo off on this platform, so it refuses rather than show the password.
func readNoEcho(*os.File) (string, error) {
	return "", errors.New("cannot hide typed passwords on this platform: pipe the password in (echo ... | mqttds passwd add USER)")
}
