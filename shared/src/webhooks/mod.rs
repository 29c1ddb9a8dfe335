//! Outbound webhooks as an outside service (STYLE.md "Outside services behind one module
//! each"): the HTTP sender and its policy (timeouts, no redirects, the §10.3 target rule in our
//! own resolver). Delivery processing calls [`send::Sender::post`]; nothing else builds raw
//! HTTP to a webhook receiver.

pub mod send;
