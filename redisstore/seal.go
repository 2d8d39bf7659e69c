package redisstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// The first byte of a value says how it is stored. (1 was a sealed value
// without a key id, as versions before PreviousKeys wrote it, under key
// names this version does not read.)
const (
	plain byte = 0
	keyed byte = 2 // AES-256-GCM: the sealing key's id, a 12-byte nonce, then the ciphertext
)

// keyID names a key in a sealed value: the first bytes of an HMAC of a
// label under the key, so that it tells nothing of the key.
type keyID [8]byte

func (id keyID) String() string { return hex.EncodeToString(id[:]) }

// maxReported bounds how many unknown key ids a Store remembers having
// reported: values under the prefix are anyone's to write who can write to
// Redis.
const maxReported = 64

// keyring seals with its current key and opens with any key it holds.
type keyring struct {
	keys []sealer // the current key first

	mu       sync.Mutex     // guards reported
	reported map[keyID]bool // unknown key ids already reported
}

// sealer is one key of a keyring.
type sealer struct {
	id   keyID
	aead cipher.AEAD
}

// newKeyring returns the keyring opts ask for, or nil for Plaintext.
func newKeyring(opts Options) (*keyring, error) {
	if opts.Plaintext {
		if len(opts.PreviousKeys) != 0 {
			return nil, errors.New("redisstore: Options.PreviousKeys and Options.Plaintext exclude each other")
		}
		return nil, nil
	}
	kr := &keyring{reported: map[keyID]bool{}}
	for i, key := range append([][]byte{opts.EncryptionKey}, opts.PreviousKeys...) {
		name := "Options.EncryptionKey"
		if i > 0 {
			name = fmt.Sprintf("Options.PreviousKeys[%d]", i-1)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("redisstore: %s must be 32 bytes for AES-256, not %d", name, len(key))
		}
		s := newSealer(key)
		for j, k := range kr.keys {
			if k.id == s.id {
				other := "Options.EncryptionKey"
				if j > 0 {
					other = fmt.Sprintf("Options.PreviousKeys[%d]", j-1)
				}
				return nil, fmt.Errorf("redisstore: %s repeats %s", name, other)
			}
		}
		kr.keys = append(kr.keys, s)
	}
	return kr, nil
}

// newSealer returns the sealer of a 32-byte key.
func newSealer(key []byte) sealer {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("tokensource redisstore key id"))
	var s sealer
	copy(s.id[:], mac.Sum(nil))
	block, _ := aes.NewCipher(key)   // 32 bytes: cannot fail
	s.aead, _ = cipher.NewGCM(block) // a standard block: cannot fail
	return s
}

// seal returns value as stored at the Redis key name: sealed with the
// current key and bound to name, or plain.
func (s *Store) seal(name string, value []byte) []byte {
	if s.keys == nil {
		return append([]byte{plain}, value...)
	}
	k := s.keys.keys[0]
	header := 1 + len(k.id) + k.aead.NonceSize()
	out := make([]byte, header, header+len(value)+k.aead.Overhead())
	out[0] = keyed
	copy(out[1:], k.id[:])
	_, _ = rand.Read(out[1+len(k.id):]) // never fails
	return k.aead.Seal(out, out[1+len(k.id):], value, aad(out[:1+len(k.id)], name))
}

// open returns the value stored at name, or ErrUnreadable if it is not one
// a Store with these keys wrote there: tampered with, sealed for another
// name, stored in the other mode, or sealed with a key it does not hold.
// The last is reported once per key id; after that such a value counts as
// none (nil and no error), so that the next token overwrites it.
func (s *Store) open(name string, stored []byte) ([]byte, error) {
	switch {
	case len(stored) == 0:
		return nil, ErrUnreadable
	case s.keys == nil:
		if stored[0] != plain {
			return nil, ErrUnreadable
		}
		return stored[1:], nil
	case stored[0] == keyed && len(stored) >= 1+len(keyID{})+12:
		var id keyID
		copy(id[:], stored[1:])
		return s.keys.open(id, name, stored)
	}
	return nil, ErrUnreadable
}

// open opens a keyed value sealed with the key id.
func (kr *keyring) open(id keyID, name string, stored []byte) ([]byte, error) {
	header := stored[:1+len(id)]
	for _, k := range kr.keys {
		if k.id != id {
			continue
		}
		n := len(header) + k.aead.NonceSize()
		value, err := k.aead.Open(nil, stored[len(header):n], stored[n:], aad(header, name))
		if err != nil {
			return nil, ErrUnreadable
		}
		return value, nil
	}
	if kr.report(id) {
		return nil, unknownKeyError{id}
	}
	return nil, nil
}

// report says whether the unknown key id is to be reported: the first
// time it is seen, among the first maxReported ids.
func (kr *keyring) report(id keyID) bool {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.reported[id] || len(kr.reported) >= maxReported {
		return false
	}
	kr.reported[id] = true
	return true
}

// aad is what a keyed value is bound to: its header and its name.
func aad(header []byte, name string) []byte {
	return append(bytes.Clone(header), name...)
}

// unknownKeyError is ErrUnreadable for a value sealed with a key the Store
// does not hold.
type unknownKeyError struct{ id keyID }

func (e unknownKeyError) Error() string {
	return "redisstore: a stored value is sealed with key " + e.id.String() +
		", which is neither Options.EncryptionKey nor one of Options.PreviousKeys; told once per key, " +
		"such values count as none until a token overwrites them"
}

func (e unknownKeyError) Is(target error) bool { return target == ErrUnreadable }
