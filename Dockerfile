# cutout as a Lambda container image: `sam build` builds it (template.yaml, Metadata).
# Two stages so that nothing but what the function imports reaches the final image: the lock file,
# pip's caches, console scripts and the dependencies' test suites stay in the first stage.
# tests/deploy/test_image_tree.py builds the same tree without Docker and runs both handlers in it.
# For a reproducible build, pin the base image by digest: FROM public.ecr.aws/lambda/python:3.12@sha256:...

FROM public.ecr.aws/lambda/python:3.12 AS dependencies
# The lock holds every package (and its hashes), so pip installs exactly it and resolves nothing.
COPY requirements/lambda.txt /tmp/lambda.txt
RUN pip install --no-cache-dir --no-deps --require-hashes --only-binary=:all: \
        --target /opt/dependencies -r /tmp/lambda.txt \
    && rm -rf /opt/dependencies/bin \
    && find /opt/dependencies -depth -type d -name tests -exec rm -rf {} +

FROM public.ecr.aws/lambda/python:3.12
COPY --from=dependencies /opt/dependencies ${LAMBDA_TASK_ROOT}
# The models where handler/settings.py looks for them in the image (IMAGE_MODEL_DIR); which of
# them a function loads is CUTOUT_MODELS (u2net's 176 MB are read only where it is listed).
COPY layers/model/u2netp.onnx /opt/ml/model/u2netp.onnx
COPY layers/model/u2net.onnx /opt/ml/model/u2net.onnx
COPY handler/ ${LAMBDA_TASK_ROOT}/handler/
# The image is read-only at run time: compile now so no cold start compiles handler/ again.
RUN python -m compileall -q "${LAMBDA_TASK_ROOT}/handler"
CMD ["handler.app.lambda_handler"]
