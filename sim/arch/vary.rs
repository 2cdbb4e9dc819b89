//! Architectures with one field changed by its dotted path (as written in `estimated`), for the
//! sensitivity and validation searches. The change goes through the description's own serde
//! form and is validated again, so a variant is always one a description file could state.

use super::Arch;
use crate::describe::Validate;
use crate::error::Invalid;
use serde_json::Value;

/// Where `path` (written from inside the family's description) sits in the serialized `Arch`.
fn pointer(arch: &Arch, path: &str) -> String {
    let family = match &arch.machine {
        super::Machine::GroqTsp(_) => "GroqTsp",
        super::Machine::CerebrasWse(_) => "CerebrasWse",
        super::Machine::Gpu(_) => "Gpu",
    };
    format!("/machine/{family}/{}", path.replace('.', "/"))
}

fn tree(arch: &Arch) -> Value {
    serde_json::to_value(arch).expect("an architecture always serializes to JSON")
}

/// Multiply every number under `v` by `factor`. Integers are rounded and kept at least 1 when
/// they were (a count or a size cannot scale to zero); returns how many numbers changed hands.
fn scale_leaves(v: &mut Value, factor: f64) -> usize {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                let floor = if i >= 1 { 1.0 } else { 0.0 };
                *v = Value::from((i as f64 * factor).round().max(floor) as u64);
            } else if let Some(x) = n.as_f64() {
                *v = serde_json::Number::from_f64(x * factor).map_or(Value::Null, Value::Number);
            }
            1
        }
        Value::Array(items) => items.iter_mut().map(|x| scale_leaves(x, factor)).sum(),
        Value::Object(fields) => fields.values_mut().map(|x| scale_leaves(x, factor)).sum(),
        _ => 0,
    }
}

/// The number at `path`, or `None` when the field is composite (a list or a group of fields).
pub fn value_at(arch: &Arch, path: &str) -> Option<f64> {
    tree(arch).pointer(&pointer(arch, path))?.as_f64()
}

/// `arch` with every number under `path` multiplied by `factor` (integers rounded, kept >= 1).
/// The error names the field and why the variant is not a valid description.
pub fn scaled(arch: &Arch, path: &str, factor: f64) -> Result<Arch, Invalid> {
    let mut t = tree(arch);
    let node = t
        .pointer_mut(&pointer(arch, path))
        .ok_or_else(|| Invalid::new(path, "is not a field of this description"))?;
    if scale_leaves(node, factor) == 0 {
        return Err(Invalid::new(path, "holds no number to scale"));
    }
    let variant: Arch = serde_json::from_value(t)
        .map_err(|e| Invalid::new(path, format!("x{factor} is not representable: {e}")))?;
    variant.validate().map_err(|e| {
        Invalid::new(
            path,
            format!("x{factor} makes the description invalid: {e}"),
        )
    })?;
    Ok(variant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::presets;

    fn preset(name: &str) -> Arch {
        presets()
            .unwrap()
            .into_iter()
            .find(|(_, a)| a.name == name)
            .unwrap()
            .1
    }

    #[test]
    fn a_float_doubles_and_an_integer_rounds_but_stays_positive() {
        let a = preset("cerebras-wse3");
        let b = scaled(&a, "wafer.clock_hz", 2.0).unwrap();
        assert_eq!(value_at(&b, "wafer.clock_hz"), Some(2.2e9));
        let q = scaled(&a, "wafer.router.queue_wavelets", 0.1).unwrap();
        assert_eq!(value_at(&q, "wafer.router.queue_wavelets"), Some(1.0));
    }

    #[test]
    fn a_composite_field_scales_every_number_under_it() {
        let a = preset("groq-tsp");
        assert_eq!(value_at(&a, "system.levels"), None);
        let b = scaled(&a, "system.levels", 0.5).unwrap_or_else(|e| panic!("{e}"));
        let before = tree(&a);
        let after = tree(&b);
        let at = |t: &Value| {
            t.pointer("/machine/GroqTsp/system/levels/0/hop_latency_ns")
                .cloned()
        };
        assert_eq!(
            at(&after).unwrap().as_f64().unwrap(),
            0.5 * at(&before).unwrap().as_f64().unwrap()
        );
    }

    #[test]
    fn an_invalid_variant_is_an_error_naming_the_field() {
        let a = preset("groq-tsp");
        let e = scaled(&a, "chip.mxm.install_vectors_per_cycle", 2.0).unwrap_err();
        assert_eq!(e.field, "chip.mxm.install_vectors_per_cycle");
        assert!(e.reason.contains("invalid"), "{e}");
        assert!(scaled(&a, "chip.nothing", 2.0).is_err());
    }
}
