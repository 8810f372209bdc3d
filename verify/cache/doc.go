// Package cache is the public lookup of verification views: it turns a
// certificate number into its ready [verify.Record], answers in
// microseconds when the number was asked for before, and keeps every
// instance's answer within a second of the register.
//
// A [Service.Lookup] is answered from an in-process cache (otter, bounded
// by memory), then from the Redis the instances share ([Remote]), then
// from the store. Misses are queued to a few loaders, which read them in
// batches of up to 64: one Redis MGET, one database query and one batch
// signature check, because every record read is verified again (that is
// what catches a record edited in the database). A view goes to Redis on
// its second use, written behind the answer: most numbers are asked for
// once. The forms rendered from a view (a page, a JSON answer, their gzip
// copies) are kept with it ([Service.Render]).
//
// Nothing is trusted for its age. The service tails the audit log, which
// every change to a certificate or an institution appends to in the same
// transaction, whichever process made it, and drops what each change
// touched, here and in Redis. A view carries the audit watermark under
// which it was read, so that a view read just before a change and written
// to Redis just after it is not served by an instance that has applied the
// change; a starting instance replays the changes of the last cache
// lifetime. A change to an institution reloads the [Directory], which also
// retires every view in Redis at once.
//
// Invalidation only works while the audit log can be read, so a view is
// only answered as "valid" or "not found" while the instance knows it is
// current: a read of the audit log that succeeded and started within
// [Options].Freshness (a second), or the view's own read from the database.
// Past that, [Service.Lookup] returns the view's [verify.Stale] form, "cannot
// confirm the current status", with the time of what the instance last knew,
// and [Service.Ready] reports the instance not ready. Revoked and superseded
// views stand: those changes are never undone.
//
// The service reads the store only through [verify.Store].
package cache
