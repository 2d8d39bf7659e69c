package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// unheard is how long a waiter waits before it looks again while the
// Store's subscription is not yet confirmed.
const unheard = 50 * time.Millisecond

// watch tells the waiters of a process that a key was written, through
// one subscription per Store: a holder that lets go of a lock publishes
// the key on the Store's channel, if somebody waits for it.
type watch struct {
	client  redis.UniversalClient
	channel string
	once    sync.Once
	mu      sync.Mutex
	heard   bool              // the subscription is confirmed: a write published from now on is heard
	waiting map[string]*waits // by key
}

// waits is the channel the waiters for one key share.
type waits struct {
	written chan struct{}
	n       int // claims that registered it and are not done with it
}

// register returns the channel closed when key is next written, made
// before the claim that may wait on it: a write between the claim and the
// wait is not missed. It starts the subscription on its first call.
func (w *watch) register(key string) *waits {
	w.once.Do(func() { go w.listen() })
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.heard {
		return nil
	}
	ws := w.waiting[key]
	if ws == nil {
		ws = &waits{written: make(chan struct{})}
		w.waiting[key] = ws
	}
	ws.n++
	return ws
}

// done drops a registration of a claim that does not wait.
func (w *watch) done(key string, ws *waits) {
	if ws == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ws.n--; ws.n == 0 && w.waiting[key] == ws {
		delete(w.waiting, key)
	}
}

// written returns what a claim that found the lock taken waits on: the
// registration's channel, or one closed after a short while without a
// subscription. A registration that is waited on stays until key is
// written.
func (w *watch) written(ws *waits) <-chan struct{} {
	if ws != nil {
		return ws.written
	}
	ch := make(chan struct{})
	time.AfterFunc(unheard, func() { close(ch) })
	return ch
}

// listen runs the subscription for the life of the client: go-redis
// subscribes again after a lost connection, and says so.
func (w *watch) listen() {
	ps := w.client.Subscribe(context.Background(), w.channel)
	for m := range ps.ChannelWithSubscriptions() {
		switch m := m.(type) {
		case *redis.Subscription:
			w.mu.Lock()
			w.heard = m.Kind == "subscribe"
			w.mu.Unlock()
		case *redis.Message:
			w.wake(m.Payload)
		}
	}
}

// wake closes the channel of key's waiters.
func (w *watch) wake(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ws := w.waiting[key]; ws != nil {
		close(ws.written)
		delete(w.waiting, key)
	}
}
