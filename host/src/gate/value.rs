//! Conversion between component-model values ([`Val`]) and the JSON view the gate,
//! the policy and the host implementations work with.
//!
//! The JSON view uses WIT spellings: record fields and case names are kebab-case as
//! written in `wit/`. Records are objects; variants are `{"case": payload}` (or
//! `"case"` without payload); enums are strings; options are `null` or the value;
//! results are `{"ok": v}` / `{"err": e}`; flags are arrays of names; tuples and
//! lists are arrays. Converting JSON back is typed: the WIT type decides, and
//! anything that does not fit is an error, never a coercion.

use serde_json::{Map, Number, Value as Json};
use wasmtime::component::{Type, Val};

/// Converts a value the guest passed into its JSON view.
pub fn val_to_json(val: &Val) -> Json {
    match val {
        Val::Bool(b) => Json::Bool(*b),
        Val::S8(n) => Json::from(*n),
        Val::U8(n) => Json::from(*n),
        Val::S16(n) => Json::from(*n),
        Val::U16(n) => Json::from(*n),
        Val::S32(n) => Json::from(*n),
        Val::U32(n) => Json::from(*n),
        Val::S64(n) => Json::from(*n),
        Val::U64(n) => Json::from(*n),
        Val::Float32(n) => float(f64::from(*n)),
        Val::Float64(n) => float(*n),
        Val::Char(c) => Json::String(c.to_string()),
        Val::String(s) => Json::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(val_to_json).collect())
        }
        Val::Map(pairs) => Json::Array(
            pairs
                .iter()
                .map(|(k, v)| Json::Array(vec![val_to_json(k), val_to_json(v)]))
                .collect(),
        ),
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), val_to_json(v)))
                .collect(),
        ),
        Val::Variant(case, None) | Val::Enum(case) => Json::String(case.clone()),
        Val::Variant(case, Some(payload)) => {
            Json::Object(Map::from_iter([(case.clone(), val_to_json(payload))]))
        }
        Val::Option(None) => Json::Null,
        Val::Option(Some(v)) => val_to_json(v),
        Val::Result(result) => {
            let (key, payload) = match result {
                Ok(v) => ("ok", v),
                Err(e) => ("err", e),
            };
            let payload = payload.as_deref().map_or(Json::Null, val_to_json);
            Json::Object(Map::from_iter([(key.to_owned(), payload)]))
        }
        Val::Flags(names) => Json::Array(names.iter().cloned().map(Json::String).collect()),
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => {
            Json::String("<handle>".into())
        }
    }
}

fn float(n: f64) -> Json {
    Number::from_f64(n).map_or(Json::Null, Json::Number)
}

/// Why a JSON value does not fit a WIT type: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConvertError {
    pub path: String,
    pub message: String,
}

impl ConvertError {
    fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: if path.is_empty() {
                "value".into()
            } else {
                path.into()
            },
            message: message.into(),
        }
    }
}

/// Converts a JSON value into a [`Val`] of type `ty`.
pub fn json_to_val(ty: &Type, json: &Json) -> Result<Val, ConvertError> {
    json_to_val_at(ty, json, "")
}

/// Like [`json_to_val`], with errors located from `name` (e.g. `value.byte`).
pub fn json_to_named_val(ty: &Type, json: &Json, name: &str) -> Result<Val, ConvertError> {
    json_to_val_at(ty, json, name)
}

fn json_to_val_at(ty: &Type, json: &Json, path: &str) -> Result<Val, ConvertError> {
    let expected =
        |what: &str| ConvertError::new(path, format!("expected {what}, got {}", kind(json)));
    macro_rules! int {
        ($variant:ident, $t:ty) => {{
            let n = json
                .as_i64()
                .map(i128::from)
                .or_else(|| json.as_u64().map(i128::from))
                .ok_or_else(|| expected(concat!("an integer (", stringify!($t), ")")))?;
            Val::$variant(<$t>::try_from(n).map_err(|_| {
                ConvertError::new(path, format!("{n} is out of range for {}", stringify!($t)))
            })?)
        }};
    }
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| expected("a boolean"))?),
        Type::S8 => int!(S8, i8),
        Type::U8 => int!(U8, u8),
        Type::S16 => int!(S16, i16),
        Type::U16 => int!(U16, u16),
        Type::S32 => int!(S32, i32),
        Type::U32 => int!(U32, u32),
        Type::S64 => int!(S64, i64),
        Type::U64 => int!(U64, u64),
        Type::Float32 => Val::Float32(json.as_f64().ok_or_else(|| expected("a number"))? as f32),
        Type::Float64 => Val::Float64(json.as_f64().ok_or_else(|| expected("a number"))?),
        Type::Char => {
            let s = json
                .as_str()
                .ok_or_else(|| expected("a one-character string"))?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(expected("a one-character string")),
            }
        }
        Type::String => Val::String(
            json.as_str()
                .ok_or_else(|| expected("a string"))?
                .to_owned(),
        ),
        Type::List(list) => {
            let items = json.as_array().ok_or_else(|| expected("an array"))?;
            Val::List(items_to_vals(&list.ty(), items, path)?)
        }
        Type::FixedLengthList(list) => {
            let items = json.as_array().ok_or_else(|| expected("an array"))?;
            Val::FixedLengthList(items_to_vals(&list.ty(), items, path)?)
        }
        Type::Record(record) => {
            let object = json.as_object().ok_or_else(|| expected("an object"))?;
            let names: Vec<&str> = record.fields().map(|f| f.name).collect();
            if let Some(unknown) = object.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(ConvertError::new(
                    path,
                    format!("unknown field `{unknown}`; expected: {}", names.join(", ")),
                ));
            }
            let mut fields = Vec::with_capacity(names.len());
            for field in record.fields() {
                let field_path = format!("{path}.{}", field.name);
                let value = object.get(field.name).unwrap_or(&Json::Null);
                if value.is_null() && !matches!(field.ty, Type::Option(_)) {
                    return Err(ConvertError::new(&field_path, "missing"));
                }
                fields.push((
                    field.name.to_owned(),
                    json_to_val_at(&field.ty, value, &field_path)?,
                ));
            }
            Val::Record(fields)
        }
        Type::Tuple(tuple) => {
            let items = json.as_array().ok_or_else(|| expected("an array"))?;
            let types: Vec<Type> = tuple.types().collect();
            if items.len() != types.len() {
                return Err(expected(&format!("an array of {} items", types.len())));
            }
            Val::Tuple(
                types
                    .iter()
                    .zip(items)
                    .enumerate()
                    .map(|(i, (t, v))| json_to_val_at(t, v, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Variant(variant) => {
            let cases: Vec<_> = variant.cases().collect();
            let names = || cases.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
            let (name, payload) =
                single_case(json).ok_or_else(|| expected(&format!("one of: {}", names())))?;
            let case = cases.iter().find(|c| c.name == name).ok_or_else(|| {
                ConvertError::new(
                    path,
                    format!("unknown case `{name}`; expected one of: {}", names()),
                )
            })?;
            let payload = match (&case.ty, payload) {
                (None, None) => None,
                (Some(ty), Some(p)) => {
                    Some(Box::new(json_to_val_at(ty, p, &format!("{path}.{name}"))?))
                }
                (None, Some(_)) => {
                    return Err(ConvertError::new(
                        path,
                        format!("case `{name}` takes no payload"),
                    ));
                }
                (Some(_), None) => {
                    return Err(ConvertError::new(
                        path,
                        format!("case `{name}` needs a payload"),
                    ));
                }
            };
            Val::Variant(name.to_owned(), payload)
        }
        Type::Enum(e) => {
            let s = json.as_str().ok_or_else(|| expected("a string"))?;
            if !e.names().any(|n| n == s) {
                let names: Vec<_> = e.names().collect();
                return Err(ConvertError::new(
                    path,
                    format!("`{s}` is not one of: {}", names.join(", ")),
                ));
            }
            Val::Enum(s.to_owned())
        }
        Type::Option(option) => match json {
            Json::Null => Val::Option(None),
            other => Val::Option(Some(Box::new(json_to_val_at(&option.ty(), other, path)?))),
        },
        Type::Result(result) => {
            let object = json
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(|| expected("{\"ok\": …} or {\"err\": …}"))?;
            let (key, payload) = object.iter().next().expect("one entry");
            let ty = match key.as_str() {
                "ok" => result.ok(),
                "err" => result.err(),
                _ => return Err(expected("{\"ok\": …} or {\"err\": …}")),
            };
            let payload = match ty {
                Some(ty) => Some(Box::new(json_to_val_at(
                    &ty,
                    payload,
                    &format!("{path}.{key}"),
                )?)),
                None => None,
            };
            Val::Result(if key == "ok" {
                Ok(payload)
            } else {
                Err(payload)
            })
        }
        Type::Flags(flags) => {
            let items = json
                .as_array()
                .ok_or_else(|| expected("an array of flag names"))?;
            let names: Vec<_> = flags.names().collect();
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                let name = item.as_str().filter(|n| names.contains(n)).ok_or_else(|| {
                    ConvertError::new(path, format!("{item} is not one of: {}", names.join(", ")))
                })?;
                set.push(name.to_owned());
            }
            Val::Flags(set)
        }
        Type::Map(_)
        | Type::Own(_)
        | Type::Borrow(_)
        | Type::Future(_)
        | Type::Stream(_)
        | Type::ErrorContext => {
            return Err(ConvertError::new(
                path,
                "this WIT type cannot be built from JSON",
            ));
        }
    })
}

/// The JSON view of a value of type `ty` in JavaScript's spelling, as the
/// guest's typed imports give it to a script: record fields in camelCase
/// (`bearer-secret` → `bearerSecret`); case names, enums and everything else as
/// in the view. A concurrent call's result crosses to the guest in it.
pub fn js_spelling(ty: &Type, json: &Json) -> Json {
    match (ty, json) {
        (Type::Record(record), Json::Object(object)) => Json::Object(
            record
                .fields()
                .filter_map(|field| {
                    let value = object.get(field.name)?;
                    Some((
                        crate::components::camel_case(field.name),
                        js_spelling(&field.ty, value),
                    ))
                })
                .collect(),
        ),
        (Type::List(list), Json::Array(items)) => {
            let item_ty = list.ty();
            Json::Array(
                items
                    .iter()
                    .map(|item| js_spelling(&item_ty, item))
                    .collect(),
            )
        }
        (Type::Option(option), value) if !value.is_null() => js_spelling(&option.ty(), value),
        (Type::Tuple(tuple), Json::Array(items)) => Json::Array(
            tuple
                .types()
                .zip(items)
                .map(|(ty, item)| js_spelling(&ty, item))
                .collect(),
        ),
        (Type::Variant(variant), Json::Object(object)) if object.len() == 1 => {
            let (name, payload) = object.iter().next().expect("one entry");
            let payload = match variant.cases().find(|c| c.name == name).and_then(|c| c.ty) {
                Some(ty) => js_spelling(&ty, payload),
                None => payload.clone(),
            };
            Json::Object(Map::from_iter([(name.clone(), payload)]))
        }
        _ => json.clone(),
    }
}

fn items_to_vals(item_ty: &Type, items: &[Json], path: &str) -> Result<Vec<Val>, ConvertError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| json_to_val_at(item_ty, item, &format!("{path}[{i}]")))
        .collect()
}

fn single_case(json: &Json) -> Option<(&str, Option<&Json>)> {
    match json {
        Json::String(name) => Some((name, None)),
        Json::Object(object) if object.len() == 1 => {
            let (name, payload) = object.iter().next()?;
            Some((name, Some(payload)))
        }
        _ => None,
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
