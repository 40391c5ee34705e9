from tests.bench.common import Ctx, Result


def run(ctx: Ctx) -> Result:
    raise NotImplementedError
