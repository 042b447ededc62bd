package chains

// How a submitter says what kind of failure a payment met (issue 9 item 8).
// The settler classifies once, in its consumer loop, into three kinds:
//   - permanent: an *h402.Error (the payment can never settle): failed;
//   - retryable: an error with Retryable() true (an endpoint down, a breaker
//     open, a lost key lease, a paused token, a nonce taken at the head but
//     not yet final): retried with backoff for as long as it takes;
//   - unknown: anything else, or an error with Unknown() true: retried up to
//     settler.unknownMaxTries, then handed to an operator.
// Retryable and Unknown are checked before *h402.Error, so they may wrap one
// to keep its reason and message.

// RetryableError is a sentinel error that is retryable.
type RetryableError string

func (e RetryableError) Error() string { return string(e) }

// Retryable is true.
func (RetryableError) Retryable() bool { return true }

// Transient wraps an error that a later try may not meet.
type Transient struct{ Err error }

func (e *Transient) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Transient) Unwrap() error { return e.Err }

// Retryable is true.
func (*Transient) Retryable() bool { return true }

// Unknown wraps an error nobody could classify (an unrecognised revert):
// neither final nor known to pass.
type Unknown struct{ Err error }

func (e *Unknown) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Unknown) Unwrap() error { return e.Err }

// Unknown is true.
func (*Unknown) Unknown() bool { return true }
