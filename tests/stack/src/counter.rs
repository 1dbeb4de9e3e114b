//! Counts the DynamoDB requests a client sends, by operation, and the mirror items written
//! inside transactions: how the tests and the benchmark see "no unchanged record rewritten".

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput,
    query::QueryInput, transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Requests per operation name.
    pub requests: BTreeMap<&'static str, u64>,
    /// Put/Delete/Update actions per table, across single-item writes and transactions.
    pub table_writes: BTreeMap<String, u64>,
    /// The largest `TransactWriteItems` request body sent (DynamoDB refuses over 4 MB).
    pub max_transaction_bytes: usize,
}

impl Counts {
    pub fn writes(&self) -> u64 {
        [
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "TransactWriteItems",
            "BatchWriteItem",
        ]
        .iter()
        .map(|op| self.requests.get(op).copied().unwrap_or(0))
        .sum()
    }
    pub fn table_writes(&self, table: &str) -> u64 {
        self.table_writes.get(table).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default, Clone)]
pub struct DynamoCounter(Arc<Mutex<Counts>>);

impl DynamoCounter {
    pub fn snapshot(&self) -> Counts {
        self.0.lock().expect("counter lock").clone()
    }
    pub fn reset(&self) {
        *self.0.lock().expect("counter lock") = Counts::default();
    }
}

impl Intercept for DynamoCounter {
    fn name(&self) -> &'static str {
        "DynamoCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        if request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"))
        {
            let size = request.body().bytes().map_or(0, <[u8]>::len);
            let mut counts = self.0.lock().expect("counter lock");
            counts.max_transaction_bytes = counts.max_transaction_bytes.max(size);
        }
        Ok(())
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut counts = self.0.lock().expect("counter lock");
        let mut table = |t: Option<&str>| {
            *counts_table(&mut counts.table_writes, t) += 1;
        };
        let op = if let Some(i) = input.downcast_ref::<PutItemInput>() {
            table(i.table_name());
            "PutItem"
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            table(i.table_name());
            "UpdateItem"
        } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            table(i.table_name());
            "DeleteItem"
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in i.transact_items() {
                if let Some(p) = item.put() {
                    table(Some(p.table_name()));
                } else if let Some(d) = item.delete() {
                    table(Some(d.table_name()));
                } else if let Some(u) = item.update() {
                    table(Some(u.table_name()));
                }
            }
            "TransactWriteItems"
        } else if input.downcast_ref::<GetItemInput>().is_some() {
            "GetItem"
        } else if input.downcast_ref::<QueryInput>().is_some() {
            "Query"
        } else {
            "Other"
        };
        *counts.requests.entry(op).or_default() += 1;
        Ok(())
    }
}

fn counts_table<'a>(map: &'a mut BTreeMap<String, u64>, table: Option<&str>) -> &'a mut u64 {
    map.entry(table.unwrap_or("?").to_string()).or_default()
}
