"""The pinned price table the cost of a run is computed from (layers/core/challenger_core/cost.py).

US East (N. Virginia), on-demand list prices in USD, without free tiers, taxes or Savings Plans. Other regions
differ (typically 0-30 % higher): a cost shown for a stack outside us-east-1 is its us-east-1 equivalent, and says
so. Compiled from the pricing pages below; the date is when they were read (this environment has no internet, so
the table was not re-read when it was added; check the pages before relying on a number).
"""

from __future__ import annotations

AS_OF = "2025-10-01"
PRICED_REGION = "us-east-1"
REGIONS_COVERED = ("us-east-1",)

SOURCES = {
    "sagemaker": "https://aws.amazon.com/sagemaker/pricing/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "stepfunctions": "https://aws.amazon.com/step-functions/pricing/",
    "apigateway": "https://aws.amazon.com/api-gateway/pricing/",
    "dynamodb": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "kms": "https://aws.amazon.com/kms/pricing/",
    "cloudwatch": "https://aws.amazon.com/cloudwatch/pricing/",
    "secretsmanager": "https://aws.amazon.com/secrets-manager/pricing/",
    "cloudfront": "https://aws.amazon.com/cloudfront/pricing/",
    "cognito": "https://aws.amazon.com/cognito/pricing/",
}

# SageMaker training (and batch transform) per instance-hour. Managed spot bills BillableTimeInSeconds at this
# same rate: the saving is in the billable time (https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-training.html).
TRAINING_PER_HOUR = {
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.c5.xlarge": 0.204,
    "ml.c5.2xlarge": 0.408,
    "ml.c5.4xlarge": 0.816,
    "ml.m4.xlarge": 0.24,
}
SERVERLESS_PER_GB_SECOND = 0.00002  # serverless inference compute (1024 MB: $0.0000200 a second)
SERVERLESS_PER_GB_PROCESSED = 0.016  # data in + out of a serverless endpoint
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334  # arm64, first tier
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
STEP_FUNCTIONS_PER_TRANSITION = 0.025 / 1000  # Standard workflows
API_GATEWAY_REST_PER_REQUEST = 3.50 / 1_000_000  # REST APIs, first 333 million a month
# What a resource costs a month whether used or not (docs/cost.md's idle table; storage is priced there).
KMS_KEY_PER_MONTH = 1.00  # a customer managed key
CLOUDWATCH_ALARM_PER_MONTH = 0.10  # a standard-resolution metric alarm
CLOUDWATCH_DASHBOARD_PER_MONTH = 3.00  # beyond the 3 free dashboards of an account
SECRET_PER_MONTH = 0.40
IDLE_PER_MONTH = {
    "AWS::KMS::Key": KMS_KEY_PER_MONTH,
    "AWS::SecretsManager::Secret": SECRET_PER_MONTH,
    "AWS::CloudWatch::Alarm": CLOUDWATCH_ALARM_PER_MONTH,
}
