//! The wall clock and transaction IDs, which the engine takes from its caller.

use std::cell::Cell;

use ruma::{MilliSecondsSinceUnixEpoch, OwnedTransactionId, UInt};
use weft_client::preview::{MONTHS, WEEKDAYS};

/// Now, from the browser's clock.
pub fn now() -> MilliSecondsSinceUnixEpoch {
    // Date.now() is a whole number of milliseconds well below 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let millis = now_ms() as u64;
    MilliSecondsSinceUnixEpoch(UInt::try_from(millis).unwrap_or(UInt::MAX))
}

/// Now in milliseconds since the Unix epoch, as the browser counts it, for measuring
/// intervals.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

thread_local! {
    static COUNTER: Cell<u32> = const { Cell::new(0) };
}

/// A transaction ID unique to this device: time, a per-page counter and a random part, so
/// that two tabs or a reload never reuse one (the server would swallow the message).
pub fn new_txn_id() -> OwnedTransactionId {
    let count = COUNTER.with(|counter| {
        let value = counter.get().wrapping_add(1);
        counter.set(value);
        value
    });
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("weft{}.{count}.{random:08x}", now().get()).into()
}

/// Local wall-clock time of `ts` as "HH:MM", for timestamps next to messages.
pub fn format_time(ts: MilliSecondsSinceUnixEpoch) -> String {
    #[allow(clippy::cast_precision_loss)]
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(u64::from(ts.get()) as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

fn date(ts: MilliSecondsSinceUnixEpoch) -> js_sys::Date {
    #[allow(clippy::cast_precision_loss)]
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(u64::from(ts.get()) as f64))
}

fn day_of_date(d: &js_sys::Date) -> (u32, u32, u32) {
    (d.get_full_year(), d.get_month(), d.get_date())
}

/// The local calendar day of `ts`, for day separators: (year, month 0–11, day).
pub fn day_of(ts: MilliSecondsSinceUnixEpoch) -> (u32, u32, u32) {
    day_of_date(&date(ts))
}

/// "Today", "Yesterday", or a date like "Tue 3 Nov 2026".
pub fn format_day(ts: MilliSecondsSinceUnixEpoch) -> String {
    let now_ms = js_sys::Date::now();
    let today = day_of_date(&js_sys::Date::new(&now_ms.into()));
    let yesterday = day_of_date(&js_sys::Date::new(&(now_ms - 86_400_000.0).into()));
    let day = day_of(ts);
    if day == today {
        return "Today".to_owned();
    }
    if day == yesterday {
        return "Yesterday".to_owned();
    }
    let d = date(ts);
    format!(
        "{} {} {} {}",
        WEEKDAYS[d.get_day() as usize % 7],
        d.get_date(),
        MONTHS[d.get_month() as usize % 12],
        d.get_full_year()
    )
}

/// The local time zone's offset from UTC in minutes (60 for UTC+1), now.
pub fn utc_offset_minutes() -> i32 {
    // `getTimezoneOffset` counts the other way (UTC minus local) and is whole minutes.
    #[allow(clippy::cast_possible_truncation)]
    let behind = js_sys::Date::new_0().get_timezone_offset() as i32;
    -behind
}
