//! Conversion between JavaScript values and the Rust types wit-bindgen generates
//! for the WIT imports. The mapping (documented in `docs/js-api.md`):
//!
//! - string ↔ string; bool ↔ boolean; integers ↔ number (must be an integer in range)
//! - `list<u8>` ↔ `Uint8Array` (an `ArrayBuffer` or an array of numbers is accepted)
//! - other lists ↔ arrays; `option<T>` ↔ `T` or `null` (`undefined` accepted)
//! - records ↔ plain objects with camelCase keys (unknown keys are errors)
//! - enums ↔ their case name as a string (`"not-found"`)
//! - variants ↔ `{ caseName: payload }` with exactly one key
//!
//! Bad input is never coerced: it becomes a `TypeError` that names the argument,
//! the path inside it and what was expected.

use javy::quickjs::{
    Ctx, Exception, Object, TypedArray, Value, function::Rest, object::Filter,
};

/// A JS value that does not fit the WIT type: the path to it and what was expected.
#[derive(Debug)]
pub struct WireError {
    /// Path segments, innermost first (reversed when shown).
    path: Vec<String>,
    message: String,
}

impl WireError {
    pub fn expected(what: &str, got: &Value<'_>) -> Self {
        Self {
            path: Vec::new(),
            message: format!("expected {what}, got {}", describe(got)),
        }
    }

    pub fn new(message: String) -> Self {
        Self {
            path: Vec::new(),
            message,
        }
    }

    pub fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }

    /// Throws this as a JS `TypeError` for `function`.
    pub fn throw(self, ctx: &Ctx<'_>, function: &str) -> javy::quickjs::Error {
        Exception::throw_type(ctx, &format!("{function}: {}", self.describe()))
    }

    /// `path: message`.
    pub fn describe(&self) -> String {
        let path: String = self.path.iter().rev().map(String::as_str).collect();
        format!("{path}: {}", self.message)
    }
}

fn describe(value: &Value<'_>) -> String {
    let what = if value.is_array() {
        "an array"
    } else if value.is_null() {
        "null"
    } else if value.is_undefined() {
        "undefined"
    } else if value.is_number() {
        "a number"
    } else if value.is_string() {
        "a string"
    } else if value.is_bool() {
        "a boolean"
    } else if value.is_big_int() {
        "a bigint"
    } else if value.is_function() {
        "a function"
    } else if value.is_object() {
        "an object"
    } else {
        value.type_name()
    };
    what.to_owned()
}

/// A type that crosses between JavaScript and a WIT import.
pub trait Wire: Sized {
    fn from_js<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError>;
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>>;

    /// Lists are arrays, except `list<u8>`, which overrides these two.
    fn vec_from_js<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Vec<Self>, WireError> {
        let array = value
            .as_array()
            .ok_or_else(|| WireError::expected("an array", &value))?;
        let mut items = Vec::with_capacity(array.len());
        for (index, item) in array.iter::<Value>().enumerate() {
            let item = item.map_err(|e| WireError::new(e.to_string()).at(format!("[{index}]")))?;
            items.push(Self::from_js(ctx, item).map_err(|e| e.at(format!("[{index}]")))?);
        }
        Ok(items)
    }

    fn vec_to_js<'js>(items: Vec<Self>, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        let array = javy::quickjs::Array::new(ctx.clone())?;
        for (index, item) in items.into_iter().enumerate() {
            array.set(index, item.to_js(ctx)?)?;
        }
        Ok(array.into_value())
    }
}

impl Wire for String {
    fn from_js<'js>(_: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError> {
        match value.as_string() {
            Some(s) => s.to_string().map_err(|e| WireError::new(e.to_string())),
            None => Err(WireError::expected("a string", &value)),
        }
    }
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        Ok(javy::quickjs::String::from_str(ctx.clone(), &self)?.into_value())
    }
}

impl Wire for bool {
    fn from_js<'js>(_: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError> {
        value
            .as_bool()
            .ok_or_else(|| WireError::expected("a boolean", &value))
    }
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        Ok(Value::new_bool(ctx.clone(), self))
    }
}

/// Largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn integer(value: &Value<'_>, min: f64, max: f64, what: &str) -> Result<f64, WireError> {
    let number = value
        .as_number()
        .ok_or_else(|| WireError::expected(what, value))?;
    if number.fract() != 0.0 || !number.is_finite() || number < min || number > max {
        return Err(WireError::new(format!("expected {what}, got {number}")));
    }
    Ok(number)
}

macro_rules! wire_integer {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl Wire for $ty {
            fn from_js<'js>(_: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError> {
                let max = (<$ty>::MAX as f64).min(MAX_SAFE_INTEGER);
                integer(&value, <$ty>::MIN as f64, max, $what).map(|n| n as $ty)
            }
            fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
                Ok(Value::new_number(ctx.clone(), self as f64))
            }
        }
    )*};
}

wire_integer! {
    u16 => "an integer from 0 to 65535",
    u32 => "an integer from 0 to 4294967295",
    u64 => "a non-negative safe integer",
}

impl Wire for u8 {
    fn from_js<'js>(_: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError> {
        integer(&value, 0.0, 255.0, "an integer from 0 to 255").map(|n| n as u8)
    }
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        Ok(Value::new_int(ctx.clone(), i32::from(self)))
    }
    fn vec_from_js<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Vec<Self>, WireError> {
        if let Ok(typed) = TypedArray::<u8>::from_value(value.clone()) {
            return typed
                .as_bytes()
                .map(<[u8]>::to_vec)
                .ok_or_else(|| WireError::new("the Uint8Array's buffer is detached".into()));
        }
        if let Some(buffer) = value
            .as_object()
            .and_then(|o| javy::quickjs::ArrayBuffer::from_object(o.clone()))
        {
            return buffer
                .as_bytes()
                .map(<[u8]>::to_vec)
                .ok_or_else(|| WireError::new("the ArrayBuffer is detached".into()));
        }
        if value.is_array() {
            let array = value.as_array().expect("checked above");
            let mut bytes = Vec::with_capacity(array.len());
            for (index, item) in array.iter::<Value>().enumerate() {
                let item =
                    item.map_err(|e| WireError::new(e.to_string()).at(format!("[{index}]")))?;
                bytes.push(Self::from_js(ctx, item).map_err(|e| e.at(format!("[{index}]")))?);
            }
            return Ok(bytes);
        }
        Err(WireError::expected("a Uint8Array", &value))
    }
    fn vec_to_js<'js>(items: Vec<Self>, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        Ok(TypedArray::<u8>::new(ctx.clone(), items)?.into_value())
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn from_js<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError> {
        T::vec_from_js(ctx, value)
    }
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        T::vec_to_js(self, ctx)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn from_js<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Self, WireError> {
        if value.is_undefined() || value.is_null() {
            Ok(None)
        } else {
            T::from_js(ctx, value).map(Some)
        }
    }
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        match self {
            Some(value) => value.to_js(ctx),
            None => Ok(Value::new_null(ctx.clone())),
        }
    }
}

impl Wire for () {
    fn from_js<'js>(_: &Ctx<'js>, _: Value<'js>) -> Result<Self, WireError> {
        Ok(())
    }
    fn to_js<'js>(self, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        Ok(Value::new_undefined(ctx.clone()))
    }
}

/// Reads field `key` of a record object.
pub fn field<'js, T: Wire>(ctx: &Ctx<'js>, object: &Object<'js>, key: &str) -> Result<T, WireError> {
    let value: Value = object
        .get(key)
        .map_err(|e| WireError::new(e.to_string()).at(format!(".{key}")))?;
    T::from_js(ctx, value).map_err(|e| e.at(format!(".{key}")))
}

/// Rejects keys a record does not have, so a typo is an error, not a silent default.
pub fn reject_unknown_keys(object: &Object<'_>, known: &[&str]) -> Result<(), WireError> {
    for key in object.own_keys::<String>(Filter::new().string().enum_only()) {
        let key = key.map_err(|e| WireError::new(e.to_string()))?;
        if !known.contains(&key.as_str()) {
            return Err(WireError::new(format!(
                "unknown key `{key}`; expected one of: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Reads the single `{ case: payload }` key of a variant object.
pub fn variant_case<'js>(
    value: &Value<'js>,
    cases: &[&str],
) -> Result<(String, Value<'js>), WireError> {
    let expected = || format!("an object with one of the keys: {}", cases.join(", "));
    let object = value
        .as_object()
        .ok_or_else(|| WireError::expected(&expected(), value))?;
    let mut keys = object.own_keys::<String>(Filter::new().string().enum_only());
    let (Some(Ok(key)), None) = (keys.next(), keys.next()) else {
        return Err(WireError::new(format!("expected {}", expected())));
    };
    if !cases.contains(&key.as_str()) {
        return Err(WireError::new(format!("unknown case `{key}`; expected {}", expected())));
    }
    let payload = object
        .get(key.as_str())
        .map_err(|e| WireError::new(e.to_string()))?;
    Ok((key, payload))
}

/// Takes the next positional argument of a host function.
pub fn take_arg<'js, T: Wire>(
    ctx: &Ctx<'js>,
    args: &mut std::vec::IntoIter<Value<'js>>,
    name: &str,
) -> Result<T, WireError> {
    let value = args
        .next()
        .unwrap_or_else(|| Value::new_undefined(ctx.clone()));
    T::from_js(ctx, value).map_err(|e| e.at(format!("argument `{name}`")))
}

/// Errors when more arguments were passed than the function takes.
pub fn no_more_args(args: &Rest<Value<'_>>, expected: usize) -> Result<(), WireError> {
    if args.0.len() > expected {
        return Err(WireError::new(format!(
            "takes {expected} argument(s), got {}",
            args.0.len()
        ))
        .at("call"));
    }
    Ok(())
}

/// Implements [`Wire`] for a record generated from WIT.
macro_rules! wire_record {
    ($ty:path { $($field:ident : $key:literal),* $(,)? }) => {
        impl $crate::wire::Wire for $ty {
            fn from_js<'js>(
                ctx: &javy::quickjs::Ctx<'js>,
                value: javy::quickjs::Value<'js>,
            ) -> Result<Self, $crate::wire::WireError> {
                let object = value
                    .as_object()
                    .filter(|_| !value.is_array())
                    .ok_or_else(|| $crate::wire::WireError::expected("an object", &value))?;
                $crate::wire::reject_unknown_keys(object, &[$($key),*])?;
                Ok(Self { $($field: $crate::wire::field(ctx, object, $key)?,)* })
            }
            fn to_js<'js>(
                self,
                ctx: &javy::quickjs::Ctx<'js>,
            ) -> javy::quickjs::Result<javy::quickjs::Value<'js>> {
                let object = javy::quickjs::Object::new(ctx.clone())?;
                $(object.set($key, $crate::wire::Wire::to_js(self.$field, ctx)?)?;)*
                Ok(object.into_value())
            }
        }

        impl $crate::wire::View for $ty {
            fn view(&self, out: &mut String) {
                out.push('{');
                let mut _first = true;
                $(
                    if !_first {
                        out.push(',');
                    }
                    _first = false;
                    $crate::wire::view_key(stringify!($field), out);
                    $crate::wire::View::view(&self.$field, out);
                )*
                out.push('}');
            }
        }
    };
}

/// Implements [`Wire`] for an enum generated from WIT: the case name as a string.
macro_rules! wire_enum {
    ($ty:ident :: $name:ident { $($case:ident : $text:literal),* $(,)? }) => {
        impl $crate::wire::Wire for $ty::$name {
            fn from_js<'js>(
                _: &javy::quickjs::Ctx<'js>,
                value: javy::quickjs::Value<'js>,
            ) -> Result<Self, $crate::wire::WireError> {
                const CASES: &str = concat!($("\"", $text, "\" "),*);
                let text = value
                    .as_string()
                    .and_then(|s| s.to_string().ok())
                    .ok_or_else(|| $crate::wire::WireError::expected(concat!("one of ", $("\"", $text, "\" "),*), &value))?;
                match text.as_str() {
                    $($text => Ok($ty::$name::$case),)*
                    other => Err($crate::wire::WireError::new(format!("expected one of {CASES}, got \"{other}\""))),
                }
            }
            fn to_js<'js>(
                self,
                ctx: &javy::quickjs::Ctx<'js>,
            ) -> javy::quickjs::Result<javy::quickjs::Value<'js>> {
                let text = match self { $($ty::$name::$case => $text,)* };
                Ok(javy::quickjs::String::from_str(ctx.clone(), text)?.into_value())
            }
        }

        impl $crate::wire::View for $ty::$name {
            fn view(&self, out: &mut String) {
                let text = match self { $($ty::$name::$case => $text,)* };
                $crate::wire::json_string(text, out);
            }
        }
    };
}

/// Implements [`Wire`] for a variant generated from WIT whose cases all carry a payload.
macro_rules! wire_variant {
    ($ty:ident :: $name:ident { $($case:ident ( $payload:ty ) : $text:literal),* $(,)? }) => {
        impl $crate::wire::Wire for $ty::$name {
            fn from_js<'js>(
                ctx: &javy::quickjs::Ctx<'js>,
                value: javy::quickjs::Value<'js>,
            ) -> Result<Self, $crate::wire::WireError> {
                let (case, payload) = $crate::wire::variant_case(&value, &[$($text),*])?;
                match case.as_str() {
                    $($text => Ok($ty::$name::$case(
                        <$payload as $crate::wire::Wire>::from_js(ctx, payload)
                            .map_err(|e| e.at(concat!(".", $text)))?,
                    )),)*
                    _ => unreachable!("variant_case checked the case"),
                }
            }
            fn to_js<'js>(
                self,
                ctx: &javy::quickjs::Ctx<'js>,
            ) -> javy::quickjs::Result<javy::quickjs::Value<'js>> {
                let object = javy::quickjs::Object::new(ctx.clone())?;
                match self {
                    $($ty::$name::$case(payload) => {
                        object.set($text, $crate::wire::Wire::to_js(payload, ctx)?)?
                    })*
                }
                Ok(object.into_value())
            }
        }

        impl $crate::wire::View for $ty::$name {
            fn view(&self, out: &mut String) {
                match self {
                    $($ty::$name::$case(payload) => {
                        out.push('{');
                        $crate::wire::json_string($text, out);
                        out.push(':');
                        $crate::wire::View::view(payload, out);
                        out.push('}');
                    })*
                }
            }
        }
    };
}

pub(crate) use {wire_enum, wire_record, wire_variant};

/// A value in the gate's JSON view (`host/src/gate/value.rs`): WIT spellings
/// (kebab-case record fields and cases), options as `null` or the value, lists
/// (`list<u8>` too) as arrays. `calls.start` takes a concurrent call's arguments
/// in it; the host checks them against the function's WIT types again.
pub trait View {
    fn view(&self, out: &mut String);
}

impl View for String {
    fn view(&self, out: &mut String) {
        json_string(self, out);
    }
}

impl View for bool {
    fn view(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

macro_rules! view_integer {
    ($($ty:ty),*) => {$(
        impl View for $ty {
            fn view(&self, out: &mut String) {
                use std::fmt::Write as _;
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

view_integer!(u8, u16, u32, u64);

impl<T: View> View for Vec<T> {
    fn view(&self, out: &mut String) {
        out.push('[');
        for (index, item) in self.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            item.view(out);
        }
        out.push(']');
    }
}

impl<T: View> View for Option<T> {
    fn view(&self, out: &mut String) {
        match self {
            Some(value) => value.view(out),
            None => out.push_str("null"),
        }
    }
}

impl View for () {
    fn view(&self, out: &mut String) {
        out.push_str("null");
    }
}

/// Writes `"key":` for a field or parameter named `ident` in Rust (snake_case),
/// which is its WIT name with `-` for `_`.
pub fn view_key(ident: &str, out: &mut String) {
    out.push('"');
    out.extend(ident.trim_end_matches('_').chars().map(|c| if c == '_' { '-' } else { c }));
    out.push_str("\":");
}

/// `text` as a JSON string.
pub fn json_string(text: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.reserve(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
