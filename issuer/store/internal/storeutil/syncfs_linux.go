package storeutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes every file written under dir so far durable with one
// syncfs(2) of its filesystem.
func syncFS(dir string) error {
	f, err := os.Open(dir) // #nosec G304 -- our own directory
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
