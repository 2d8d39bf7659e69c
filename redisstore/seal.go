package redisstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// newAEAD returns the AES-256-GCM cipher of an EncryptionKey.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("redisstore: Options.EncryptionKey must be 32 bytes for AES-256, not %d", len(key))
	}
	block, _ := aes.NewCipher(key) // 32 bytes: cannot fail
	return cipher.NewGCM(block)    // a standard block: cannot fail
}

// The first byte of a value says how it is stored.
const (
	plain  byte = 0
	sealed byte = 1 // AES-256-GCM: a 12-byte nonce, then the ciphertext
)

// seal returns value as stored at the Redis key name: encrypted and bound
// to name, or plain.
func (s *Store) seal(name string, value []byte) []byte {
	if s.aead == nil {
		return append([]byte{plain}, value...)
	}
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(value)+s.aead.Overhead())
	out[0] = sealed
	_, _ = rand.Read(out[1:]) // never fails
	return s.aead.Seal(out, out[1:], value, []byte(name))
}

// open returns the value stored at name, or nil if it is not one this
// Store wrote there: tampered with, sealed with another key or for another
// name, or stored in the other mode.
func (s *Store) open(name string, stored []byte) []byte {
	switch {
	case len(stored) == 0:
		return nil
	case s.aead == nil:
		if stored[0] != plain {
			return nil
		}
		return stored[1:]
	case stored[0] != sealed || len(stored) < 1+s.aead.NonceSize():
		return nil
	}
	n := 1 + s.aead.NonceSize()
	value, err := s.aead.Open(nil, stored[1:n], stored[n:], []byte(name))
	if err != nil {
		return nil
	}
	return value
}
