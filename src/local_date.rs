//! Dates in the reader's own locale and time zone, through the browser's `Intl.DateTimeFormat`: no date library
//! or locale data ships with the app.

use js_sys::{Array, Date, Intl, Object, Reflect};
use wasm_bindgen::JsValue;

/// `27 November 2026` (or the reader's locale's way of writing it).
pub fn long_date(rfc3339: &str) -> String {
    format(rfc3339, &[("dateStyle", "long")])
}

/// `27 Nov 2026, 14:05` (or the reader's locale's way of writing it).
pub fn date_and_time(rfc3339: &str) -> String {
    format(rfc3339, &[("dateStyle", "medium"), ("timeStyle", "short")])
}

/// What the server sent, as it is, if the browser cannot read it as a date.
fn format(rfc3339: &str, style: &[(&str, &str)]) -> String {
    let date = Date::new(&JsValue::from_str(rfc3339));
    if date.get_time().is_nan() {
        return rfc3339.to_owned();
    }
    let options = Object::new();
    for (name, value) in style {
        let _ = Reflect::set(&options, &JsValue::from_str(name), &JsValue::from_str(value));
    }
    Intl::DateTimeFormat::new(&Array::new(), &options)
        .format()
        .call1(&JsValue::UNDEFINED, &date)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| rfc3339.to_owned())
}
