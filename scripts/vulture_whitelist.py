"""Names vulture (`make lint`, config in pyproject.toml) reports as unused that are used where it cannot look.

Each entry is a bare attribute use, which is all vulture needs; the comment says who uses the name. Never imported.
The real classes are not imported on purpose: importing one here would count as a use of its name everywhere,
and hide an unused import of it elsewhere. Vulture matches by name only, so keep the list short and remove an
entry when its code goes.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# --- pydantic model fields: set by keyword, read through model_dump/model_validate (DynamoDB items, state
# documents, API answers, the dashboard), so no Python code reads them by name.
_.output_data_url  # models.TrainingJob
_.excluded_champion_training_rows  # models.PairedComparison (evaluation.json, the dashboard)
_.requires_approval  # models.Verdict (the training ASL's approval Choice reads it)
_.approval_timeout_seconds  # models.Verdict (the approval Task's TimeoutSecondsPath)
_.data_fingerprint  # models.ModelVersion
_.training_job_name  # models.ModelVersion
_.created_at  # models.ModelVersion
_.ended_at  # models.Run
_.decided_at  # models.Approval
_.claimed_decision  # models.Approval (written by the registry's conditional update expression)
_.claimed_by  # models.Approval (the same)
_.promoted_at  # models.Champion
_.endpoint_existed  # models.EndpointPlan
_.started_by  # models.DeploymentState: Step Functions adds AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID
_.entered_at  # operations.Step
_.error_rate  # monitoring.VersionHealth
_.detail_type  # functions/trigger/app.py events: the Literal detail-type tells the TriggerEvent union apart
_.cost_usd  # monitoring.VersionHealth (the dashboard's version page)
_.SOURCES  # prices: the pricing pages docs/cost.md cites (a test checks it cites each)
_.p50_ms  # monitoring.VersionHealth
_.p90_ms  # monitoring.VersionHealth
_.p99_ms  # monitoring.VersionHealth
_.model_version  # serving.PredictResponse
_.class_names  # functions/api/routers/predict.py Prediction (GET /health): the dashboard's confusion matrix reads it
_.loc  # functions/api ValidationErrorItem (the 422 body's OpenAPI model)
_.msg  # functions/api ValidationErrorItem
_.set_at  # models.TrustedSet, models.DatasetPolicy (GET /datasets/{dataset}, the audit of who set it when)
_.trusted_set  # judging.DatasetJudging (GET /datasets/{dataset})
_.slice  # shadow.SliceCount, in Verdict.shadow.disagreement (GET /runs/{id}, the CLI's runs show, the dashboard)
_.disagreed
_.disagreement
_.replayed  # shadow.ShadowStage: how many captured requests the replay sent (the state document, the history)
_.on_trusted_set  # judging.HistoryPoint: the comparable series (issue 19)
_.own_holdout  # judging.HistoryPoint

# --- names the Step Functions definitions use
_.PollingExhaustedError  # errors: the Error of the Fail states in statemachine/*.asl.json, kept in the hierarchy

# --- interfaces a library calls
_._request_validation_middleware  # functions/api: Powertools 3.37's resolver reads it (see _JsonBodyValidation)
# observability.Untraced / _Segment implement Powertools' BaseProvider / BaseSegment; Tracer calls them, by keyword
_.in_subsegment
_.in_subsegment_async
_.put_annotation
_.put_metadata
_.patch_all
_.add_subsegment
_.remove_subsegment
_.add_exception
_.end_time
_.subsegment
_.namespace
_.remote
_.readable  # adapters.storage._Translated: io.RawIOBase's protocol (readers ask readable() first)
_.mode  # recipes/kit/bundle.py: TarInfo fields tarfile writes into each member's header
_.mtime
_.uid
_.gid
_.uname
_.gname
_.max_content_length  # challenger/local/gateway.py: werkzeug's Request refuses a larger body (413)
_.log_request  # gateway and local SageMaker request handlers: werkzeug / http.server call it per request
_.daemon_threads  # local/lambda_runtime.py: socketserver reads it
_.protocol_version  # local/lambda_runtime.py _RuntimeApi: http.server keeps HTTP/1.1 connections alive
_.disable_nagle_algorithm  # socketserver's StreamRequestHandler sets TCP_NODELAY
_.close_connection  # http.server closes the connection after this request
_.do_GET  # local/lambda_runtime.py: http.server dispatches GET here
_.do_POST  # local/lambda_runtime.py: http.server dispatches POST here
_.log_message  # http.server's access log
_.connect  # local/sagemaker/hosting.py _ContainerConnection: http.client calls connect() to open its socket
_.sock  # http.client.HTTPConnection reads the socket connect() set
_.log_group_name  # tests/support/inprocess_lambda.py LambdaContext: the attributes AWS's context object has
_.log_stream_name  # (Powertools' inject_lambda_context and a handler may read any of them)
_.client_context
_.identity
_.tenant_id
_.__wrapped__  # lambda_runtime: moto's original invoke behind the patch (inspect.unwrap's convention)
_.__getattr__  # local/sagemaker/__init__.py: a module's lazy attributes (PEP 562)
_.EventMessageType  # local/events.py: used in cast("EventMessageType", ...), a string vulture does not read
_._version_id  # local/snapshot.py: a restored S3 version gets its old id back in moto's backend (read by moto)
_.to  # local/outbox.py OutboxMessage.to: the gateway's /_local/outbox lists the message's fields by name

# --- seams the tests use (the product has no caller)
_.delivered  # local/events.py EventBus counters: tests/local/test_events.py
_.failures
_.retries  # EventBus: how many retries were scheduled (tests/local/test_events.py)
_.wait_idle  # EventBus: tests/local, tests/integration wait for deliveries
_.fire_now  # the scheduler: tests fire a schedule rule without waiting for its tick
_.function_names  # LambdaRuntime: tests/unit/statemachines/conftest.py
_.forget_recipes  # recipe: tests drop the cached recipe between stacks
_.set_champion  # Registry: tests put a champion in place without a deployment
_.validate_bytes  # validation: tests/unit/core/test_validation.py
_.intra_op_num_threads  # onnxruntime.SessionOptions: read by onnxruntime (recipes/kit/challenger_onnx.py)
_.inter_op_num_threads  # onnxruntime.SessionOptions: read by onnxruntime
_.split_rows  # recipes/kit: the in-memory split that split_channel must equal (tests/unit/recipes/test_kit_columnar.py)
_.train_ids  # ChannelSplit: the ids write_train_ids streams, as a list (tests/unit/recipes/test_kit_columnar.py)
_.input_version  # models.BatchJobRecord: GET /batch answers it (the S3 version of the file that was scored)
