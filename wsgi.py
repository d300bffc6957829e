from backend.ops.startup import create_app_or_exit

app = create_app_or_exit()
