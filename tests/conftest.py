from tests.fix_broker import production_broker  # noqa: F401 - fixtures
from tests.fix_server import server  # noqa: F401 - fixtures
from tests.fix_services import database_url, mqtt_url, settings  # noqa: F401 - fixtures
