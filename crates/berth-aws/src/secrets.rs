//! Secret values from AWS for `berth up`: Secrets Manager (`GetSecretValue`), SSM Parameter
//! Store (`GetParameter` with decryption) and KMS (`Decrypt`, for SOPS data keys).
//!
//! Nothing is read until a value is asked for, so a stack without AWS sources never loads AWS
//! credentials. Errors say which secret, parameter or key and what AWS answered; values never
//! reach them (the SDK's own errors carry no response bodies of successful reads).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use berth_stack::{CloudSecrets, SecretValue};

use crate::{Aws, describe, is_not_found};

/// [`CloudSecrets`] through the AWS SDK.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    aws: Arc<Aws>,
}

impl Secrets {
    /// A reader that loads AWS configuration on first use.
    pub fn new() -> Secrets {
        Secrets::default()
    }
}

impl CloudSecrets for Secrets {
    fn secrets_manager(&self, region: Option<&str>, name: &str) -> Result<SecretValue, String> {
        self.aws.run(async {
            let config = self.aws.config(region).await;
            let client = aws_sdk_secretsmanager::Client::new(&config);
            match client.get_secret_value().secret_id(name).send().await {
                Ok(out) => {
                    if let Some(s) = out.secret_string {
                        Ok(SecretValue::new(s))
                    } else if let Some(b) = out.secret_binary {
                        Ok(SecretValue::new(b.into_inner()))
                    } else {
                        Err("it has no value".to_string())
                    }
                }
                Err(e) if is_not_found(&e) => Err("it does not exist".to_string()),
                Err(e) => Err(describe(&e)),
            }
        })?
    }

    fn ssm_parameter(&self, region: Option<&str>, name: &str) -> Result<SecretValue, String> {
        self.aws.run(async {
            let config = self.aws.config(region).await;
            let client = aws_sdk_ssm::Client::new(&config);
            match client
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
            {
                Ok(out) => out
                    .parameter
                    .and_then(|p| p.value)
                    .map(SecretValue::new)
                    .ok_or_else(|| "it has no value".to_string()),
                Err(e) if is_not_found(&e) => Err("it does not exist".to_string()),
                Err(e) => Err(describe(&e)),
            }
        })?
    }

    fn kms_decrypt(
        &self,
        arn: &str,
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<SecretValue, String> {
        // arn:aws:kms:REGION:ACCOUNT:key/ID: the key lives in its own region.
        let region = arn.split(':').nth(3).filter(|r| !r.is_empty());
        self.aws.run(async {
            let config = self.aws.config(region).await;
            let client = aws_sdk_kms::Client::new(&config);
            let mut request = client
                .decrypt()
                .key_id(arn)
                .ciphertext_blob(Blob::new(ciphertext));
            for (k, v) in context {
                request = request.encryption_context(k, v);
            }
            match request.send().await {
                Ok(out) => out
                    .plaintext
                    .map(|p| SecretValue::new(p.into_inner()))
                    .ok_or_else(|| "KMS returned no plaintext".to_string()),
                Err(e) => Err(describe(&e)),
            }
        })?
    }
}
