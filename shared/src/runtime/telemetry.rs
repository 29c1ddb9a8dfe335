//! Logging: JSON lines (CloudWatch) by default, readable lines locally (LOG_FORMAT=pretty).

use tracing_subscriber::EnvFilter;

pub fn init(pretty: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if pretty {
        builder.compact().try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
