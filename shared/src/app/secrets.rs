//! Secrets from AWS Secrets Manager, read once at init. In AWS no secret is an environment
//! variable (those are readable by anyone allowed `lambda:GetFunctionConfiguration`): a
//! function's `SECRETS_ARNS` names the secrets it uses, each a JSON object from variable name
//! to value (`{"ZUORA_CLIENT_SECRET": "…", "WEBHOOK_SECRET": "…"}`), and its role may read
//! exactly those. Locally the same variables come from the environment.

use crate::config::Env;
use std::collections::HashMap;

/// The variables a secret may set.
pub const SECRET_VARS: [&str; 8] = [
    "ZUORA_CLIENT_SECRET",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_JWT_KEY",
    "ZUORA_ENTITIES",
    "WEBHOOK_SECRET",
    "CALLOUT_BASIC_PASSWORD",
    "CALLOUT_SECRET",
    "JWT_HS256_SECRET",
];

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {arn} could not be read: {reason}")]
    Read { arn: String, reason: String },
    #[error("secret {arn} is not a JSON object of strings")]
    Shape { arn: String },
    #[error("secret {arn} sets {key}, which is not one of {SECRET_VARS:?}")]
    Key { arn: String, key: String },
    #[error("{key} is set both in the environment and by secret {arn}: keep it in one place")]
    Twice { arn: String, key: String },
}

/// The variables the secrets in `SECRETS_ARNS` (comma-separated) set.
pub async fn read(
    client: &aws_sdk_secretsmanager::Client,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HashMap<String, String>, SecretsError> {
    let arns = env("SECRETS_ARNS").unwrap_or_default();
    let mut out = HashMap::new();
    for arn in arns.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let answer = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| SecretsError::Read {
                arn: arn.to_string(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            })?;
        let values: HashMap<String, String> = answer
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| SecretsError::Shape {
                arn: arn.to_string(),
            })?;
        for (key, value) in values {
            let owned = |key: String| (arn.to_string(), key);
            if !SECRET_VARS.contains(&key.as_str()) {
                let (arn, key) = owned(key);
                return Err(SecretsError::Key { arn, key });
            }
            if env(&key).is_some_and(|v| !v.trim().is_empty()) {
                let (arn, key) = owned(key);
                return Err(SecretsError::Twice { arn, key });
            }
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// The process environment with the secrets read from `SECRETS_ARNS` added.
pub async fn process_env(
    client: &aws_sdk_secretsmanager::Client,
) -> Result<Env<impl Fn(&str) -> Option<String> + use<>>, SecretsError> {
    let process = |k: &str| std::env::var(k).ok();
    let secrets = read(client, &process).await?;
    Ok(Env(move |k: &str| {
        secrets.get(k).cloned().or_else(|| std::env::var(k).ok())
    }))
}
