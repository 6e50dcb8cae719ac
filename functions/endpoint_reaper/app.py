"""Scale idle inference components to zero; record and delete idle endpoints; status; wake a reaped one."""

from docpipe.logic.endpoints import EndpointsInput, handle
from docpipe.task import lambda_task

handler = lambda_task("endpoint_reaper", EndpointsInput, handle)
