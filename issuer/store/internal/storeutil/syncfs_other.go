//go:build !linux

package storeutil

import "syscall"

// syncFS flushes every filesystem where syncfs(2) does not exist.
func syncFS(string) error {
	syscall.Sync()
	return nil
}
