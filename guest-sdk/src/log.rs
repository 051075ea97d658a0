//! Log macros: one line each in the container log, as `hookinit: [PLUGIN] message`.

/// Logs at [`Level::Error`](crate::Level). Same syntax as `format!`.
///
/// ```no_run
/// hookinit_sdk::error!("cannot read {}: {}", "/etc/app.conf", "not found");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::host::log($crate::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs at [`Level::Warn`](crate::Level). Same syntax as `format!`.
///
/// ```no_run
/// hookinit_sdk::warn!("retrying in {} s", 2);
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::host::log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at [`Level::Info`](crate::Level) (shown at `-v` and with `DEBUG=verbose`).
///
/// ```no_run
/// hookinit_sdk::info!("main process is {:?}", hookinit_sdk::host::main_pid());
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::host::log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at [`Level::Debug`](crate::Level), skipping the formatting when debug lines are off.
///
/// ```no_run
/// hookinit_sdk::debug!("config: {:?}", [1, 2, 3]);
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::host::log_enabled($crate::Level::Debug) {
            $crate::host::log($crate::Level::Debug, &::std::format!($($arg)*))
        }
    };
}
