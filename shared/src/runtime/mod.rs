//! Process start-up: typed config from the environment, AWS clients (built once, with
//! timeouts and the call meter behind `Server-Timing`), logging, and the glue that runs a
//! Router on Lambda.

pub mod clients;
pub mod config;
pub mod lambda;
pub mod telemetry;

pub use clients::AwsClients;
pub use config::Config;
