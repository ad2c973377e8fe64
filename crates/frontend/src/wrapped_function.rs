//! What a function that wraps DataFusion's function of the same name (`length_limits`,
//! `coalesce`) takes from it unchanged.

/// The methods of a `ScalarUDFImpl` whose `inner: Arc<ScalarUDF>` it wraps that answer
/// as `inner` does: name, aliases, signature, types and documentation.
macro_rules! same_signature_as_inner {
    () => {
        fn name(&self) -> &str {
            self.inner.name()
        }

        fn aliases(&self) -> &[String] {
            self.inner.aliases()
        }

        fn signature(&self) -> &::datafusion::logical_expr::Signature {
            self.inner.signature()
        }

        fn return_type(
            &self,
            arg_types: &[::datafusion::arrow::datatypes::DataType],
        ) -> ::datafusion::common::Result<::datafusion::arrow::datatypes::DataType> {
            self.inner.return_type(arg_types)
        }

        fn return_field_from_args(
            &self,
            args: ::datafusion::logical_expr::ReturnFieldArgs,
        ) -> ::datafusion::common::Result<::datafusion::arrow::datatypes::FieldRef> {
            self.inner.return_field_from_args(args)
        }

        fn coerce_types(
            &self,
            arg_types: &[::datafusion::arrow::datatypes::DataType],
        ) -> ::datafusion::common::Result<Vec<::datafusion::arrow::datatypes::DataType>> {
            self.inner.coerce_types(arg_types)
        }

        fn documentation(&self) -> Option<&::datafusion::logical_expr::Documentation> {
            self.inner.documentation()
        }
    };
}

pub(crate) use same_signature_as_inner;
