"""An object deleted from the inbox takes its vectors with it (EventBridge: S3 Object Deleted)."""

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from docpipe.logic.forget import forget_document
from docpipe.task import lambda_task

handler = lambda_task("forget", S3EventNotificationEventBridgeModel, forget_document)
