//! S3: documents and exports in the stack's bucket, and presigned URLs for browsers.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("S3 error: {0}")]
    S3(String),
}

fn err<E>(e: aws_sdk_s3::error::SdkError<E>) -> BlobError
where
    E: std::error::Error + Send + Sync + 'static,
{
    BlobError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

/// Where a job's result too large for its item is kept (as long as the job: no lifecycle
/// rule covers `jobs/`; deleting the job or its project deletes it).
pub fn job_result_key(project_id: u64, job_id: u64) -> String {
    format!("jobs/{project_id}/{job_id}/result.json")
}

/// How long presigned URLs stay valid.
pub const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug)]
pub struct Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(err)
    }

    /// The object's bytes, or None when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(
                o.body
                    .collect()
                    .await
                    .map_err(|e| BlobError::S3(e.to_string()))?
                    .into_bytes()
                    .to_vec(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// The object's size, or None when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<i64>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.content_length.unwrap_or(0))),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// Moves an object within the bucket (server-side copy, then delete).
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), BlobError> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, from))
            .key(to)
            .send()
            .await
            .map_err(err)?;
        self.delete(&[from.to_string()]).await
    }

    /// Deletes objects, 1000 per call.
    pub async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BlobError::S3(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BlobError::S3(e.to_string()))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(err)?;
        }
        Ok(())
    }

    /// A presigned PUT for a browser upload of exactly `size` bytes.
    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: i64,
    ) -> Result<String, BlobError> {
        let cfg =
            PresigningConfig::expires_in(PRESIGN_TTL).map_err(|e| BlobError::S3(e.to_string()))?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .presigned(cfg)
            .await
            .map_err(err)?;
        Ok(req.uri().to_string())
    }

    /// A presigned GET that downloads as `filename`.
    pub async fn presign_get(&self, key: &str, filename: &str) -> Result<String, BlobError> {
        self.presign_get_for(key, filename, PRESIGN_TTL).await
    }

    /// `presign_get` valid for `ttl`.
    pub async fn presign_get_for(
        &self,
        key: &str,
        filename: &str,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let cfg = PresigningConfig::expires_in(ttl).map_err(|e| BlobError::S3(e.to_string()))?;
        let safe: String = filename
            .chars()
            .map(|c| if c == '"' || c.is_control() { '_' } else { c })
            .collect();
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{safe}\""))
            .presigned(cfg)
            .await
            .map_err(err)?;
        Ok(req.uri().to_string())
    }
}
