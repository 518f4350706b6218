package actors

// inspect runs fn on an actor's own goroutine and replies with its result: a safe read of actor state
// for management and tests (PROTOACTOR.md: an actor's fields are touched only inside its Receive).
// Every Warren actor answers it; fn receives the actor (*vhost, *queue, *exchange, *connection,
// *session, *senderLink or *receiverLink) and must not block or keep references to mutable state.
type inspect struct{ fn func(a any) any }
