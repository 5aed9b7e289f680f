//! What a room list row says besides the room's name: a one-line preview of the newest
//! message ("alice: see you at 5", "You sent an image", "Call ended · 3:12") and the time
//! of the latest activity ("14:05", "Tue", "12 Nov", "12 Nov 2025").
//!
//! Both are plain functions of their inputs: the time takes "now" and the local UTC offset
//! from the caller, since the engine has no clock.

use ruma::UserId;

use crate::{
    MediaKind,
    timeline::{ItemKind, TimelineItem},
};

/// A preview never needs more than a line's worth: longer text is cut here rather than
/// copied into every room list row.
const MAX_CHARS: usize = 120;

/// The preview line for `item` (the room's newest message-like item, as shown), seen by
/// `own`. In a direct chat the other person's messages go without their name, as Element
/// shows them: the row already carries it.
pub(crate) fn line(item: &TimelineItem, own: &UserId, direct: bool) -> String {
    let ours = item.sender == own;
    let who = if ours {
        "You"
    } else {
        item.sender_name.as_str()
    };
    // A call's line and a deleted message already say it all, in the timeline's words.
    if item.call_id.is_some() || item.kind == ItemKind::Redacted {
        return item.body.clone();
    }
    if let Some(media) = &item.media {
        let what = match media.kind {
            MediaKind::Image => "an image",
            MediaKind::Video => "a video",
            MediaKind::Audio => "an audio file",
            MediaKind::File => "a file",
        };
        return format!("{who} sent {what}");
    }
    let text = match item.kind {
        ItemKind::Encrypted => "Unable to decrypt",
        _ => item.body.as_str(),
    };
    let text = one_line(text);
    match item.kind {
        ItemKind::Emote => format!("* {} {text}", item.sender_name),
        _ if direct && !ours => text,
        _ => format!("{who}: {text}"),
    }
}

/// The first [`MAX_CHARS`] characters of `text` with line breaks and runs of spaces turned
/// into single spaces.
fn one_line(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > MAX_CHARS * 4 {
            break;
        }
    }
    match out.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => {
            out.truncate(cut);
            out.push('…');
            out
        }
        None => out,
    }
}

/// Short English day names, Sunday first (as JavaScript's `Date::getDay` counts), for the
/// room list here and the timeline's day separators in the web app.
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// Short English month names, January first.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// When something last happened in a room, as the room list shows it: "14:05" today,
/// the weekday ("Tue") within the last six days, "12 Nov" earlier this year and
/// "12 Nov 2025" before that. `ts_ms` and `now_ms` are milliseconds since the Unix epoch;
/// `utc_offset_minutes` is the local time zone's offset (e.g. 60 for UTC+1).
pub fn list_time(ts_ms: u64, now_ms: u64, utc_offset_minutes: i32) -> String {
    let local = |ms: u64| {
        i64::try_from(ms).unwrap_or(i64::MAX / 2) + i64::from(utc_offset_minutes) * MINUTE_MS
    };
    let (ts, now) = (local(ts_ms), local(now_ms));
    let (day, today) = (ts.div_euclid(DAY_MS), now.div_euclid(DAY_MS));
    // A time a little ahead of our clock (the sender's clock, or ours, is off) is "today".
    if day >= today {
        let minutes = ts.rem_euclid(DAY_MS) / MINUTE_MS;
        return format!("{:02}:{:02}", minutes / 60, minutes % 60);
    }
    if today - day <= 6 {
        // 1 January 1970 was a Thursday.
        return WEEKDAYS[usize::try_from((day + 4).rem_euclid(7)).unwrap_or(0)].to_owned();
    }
    let (year, month, date) = civil_date(day);
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    if year == civil_date(today).0 {
        format!("{date} {month}")
    } else {
        format!("{date} {month} {year}")
    }
}

/// The (year, month 1–12, day 1–31) of a day counted from 1 January 1970 (Howard
/// Hinnant's `civil_from_days`), so the wasm needs no date library.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let date = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, date)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds since the epoch of a UTC date and time.
    fn utc(year: i64, month: i64, date: i64, hour: i64, minute: i64) -> u64 {
        // Days from civil (the inverse of `civil_date`), for the tests only.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = if month > 2 { month - 3 } else { month + 9 };
        let doy = (153 * mp + 2) / 5 + date - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        u64::try_from(days * DAY_MS + hour * 3_600_000 + minute * MINUTE_MS).unwrap()
    }

    #[test]
    fn dates_round_trip_through_the_calendar() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2024, 12, 31),
            (2025, 1, 1),
            (2026, 3, 1),
            (2100, 2, 28),
        ] {
            let days = i64::try_from(utc(y, m, d, 0, 0)).unwrap() / DAY_MS;
            assert_eq!(civil_date(days), (y, m, d));
        }
    }

    #[test]
    fn times_read_like_elements_room_list() {
        // Thursday 12 November 2026, 15:30 UTC.
        let now = utc(2026, 11, 12, 15, 30);
        assert_eq!(list_time(utc(2026, 11, 12, 14, 5), now, 0), "14:05");
        assert_eq!(list_time(utc(2026, 11, 12, 0, 0), now, 0), "00:00");
        assert_eq!(list_time(utc(2026, 11, 11, 23, 59), now, 0), "Wed");
        assert_eq!(list_time(utc(2026, 11, 10, 9, 0), now, 0), "Tue");
        assert_eq!(
            list_time(utc(2026, 11, 6, 9, 0), now, 0),
            "Fri",
            "six days back is still a weekday"
        );
        assert_eq!(
            list_time(utc(2026, 11, 5, 23, 59), now, 0),
            "5 Nov",
            "seven days back is a date"
        );
        assert_eq!(list_time(utc(2026, 1, 1, 0, 0), now, 0), "1 Jan");
        assert_eq!(list_time(utc(2025, 11, 12, 9, 0), now, 0), "12 Nov 2025");
        // A few seconds in the future (clock skew) is today.
        assert_eq!(list_time(utc(2026, 11, 12, 15, 31), now, 0), "15:31");
    }

    #[test]
    fn midnight_is_local_midnight() {
        // 00:00:30 local on Friday 13 November 2026 in UTC+2 is 22:00:30 UTC on the 12th.
        let now = utc(2026, 11, 12, 22, 0) + 30_000;
        // 23:59 local (21:59 UTC) is yesterday there, though the same UTC day.
        assert_eq!(list_time(utc(2026, 11, 12, 21, 59), now, 120), "Thu");
        assert_eq!(list_time(utc(2026, 11, 12, 22, 0), now, 120), "00:00");
        // West of UTC: 20:00 UTC is 15:00 in UTC-5, the same local day as 18:00 local.
        assert_eq!(
            list_time(utc(2026, 11, 12, 20, 0), utc(2026, 11, 12, 23, 0), -300),
            "15:00"
        );
        // ...and 03:00 UTC on the 13th is 22:00 local on the 12th: still today there.
        assert_eq!(
            list_time(utc(2026, 11, 13, 3, 0), utc(2026, 11, 13, 4, 0), -300),
            "22:00"
        );
        assert_eq!(
            list_time(utc(2026, 11, 13, 4, 59), utc(2026, 11, 13, 5, 30), -300),
            "Thu"
        );
    }

    #[test]
    fn the_year_changes_at_local_new_year() {
        // 00:10 on 1 January 2026 local (UTC+1).
        let now = utc(2025, 12, 31, 23, 10);
        assert_eq!(
            list_time(utc(2025, 12, 31, 22, 50), now, 60),
            "Wed",
            "23:50 on New Year's Eve"
        );
        assert_eq!(list_time(utc(2025, 12, 20, 12, 0), now, 60), "20 Dec 2025");
        // The same instants in UTC are still 2025.
        assert_eq!(list_time(utc(2025, 12, 20, 12, 0), now, 0), "20 Dec");
        assert_eq!(list_time(utc(2025, 12, 31, 22, 50), now, 0), "22:50");
    }

    #[test]
    fn long_and_multi_line_text_becomes_one_short_line() {
        assert_eq!(one_line("see you\n\nat   5"), "see you at 5");
        let long = "word ".repeat(100);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line(&"é".repeat(130)).chars().count(), MAX_CHARS + 1);
    }
}
