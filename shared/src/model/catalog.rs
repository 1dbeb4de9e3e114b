//! The Zuora product catalog: products, their rate plans and charges with prices, read from
//! the v1 catalog shape (`GET /v1/catalog/products`, camel case) and stored in snake case like
//! every mirror record. Unknown fields are dropped; prices keep Zuora's decimal text.

use crate::model::Amount;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all(deserialize = "camelCase"))]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub effective_start_date: Option<String>,
    #[serde(default)]
    pub effective_end_date: Option<String>,
    #[serde(default)]
    pub product_rate_plans: Vec<ProductRatePlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all(deserialize = "camelCase"))]
pub struct ProductRatePlan {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub product_rate_plan_charges: Vec<ProductRatePlanCharge>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all(deserialize = "camelCase"))]
pub struct ProductRatePlanCharge {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename(deserialize = "type"))]
    pub charge_type: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub billing_period: Option<String>,
    #[serde(default)]
    pub pricing: Vec<Price>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "amount")]
    pub price: Option<Amount>,
    /// Tiered prices, kept as Zuora sends them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<serde_json::Value>,
}

/// Zuora writes prices as JSON numbers; keep their exact text.
fn amount<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => Some(Amount(n.to_string())),
        Some(serde_json::Value::String(s)) => Some(Amount(s)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_v1_catalog_shape() {
        let p: Product = serde_json::from_value(serde_json::json!({
            "id": "p1", "sku": "SKU-1", "name": "Gold", "unknown": 1,
            "productRatePlans": [{"id": "rp1", "name": "Monthly", "status": "Active",
                "productRatePlanCharges": [{"id": "c1", "type": "Recurring", "model": "FlatFee",
                    "billingPeriod": "Month", "pricing": [{"currency": "USD", "price": 19.90}]}]}]
        }))
        .unwrap();
        let charge = &p.product_rate_plans[0].product_rate_plan_charges[0];
        assert_eq!(charge.pricing[0].price, Some(Amount("19.9".into())));
        assert_eq!(charge.charge_type.as_deref(), Some("Recurring"));
    }
}
