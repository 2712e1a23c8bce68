//! Loopback fakes of the providers the first-party integrations call. Each
//! checks what the real API checks (path, method, auth scheme, content type,
//! required fields, idempotency key), answers with the documented response
//! and error bodies, records what it received, and can be told to fail the
//! next requests (a 429 with `Retry-After`, a 500) to exercise retries.

pub mod hubspot;
pub mod sendgrid;
pub mod slack;
pub mod stripe;
pub mod twilio;
