from celery import current_app


def task_send(name: str, *args, **options) -> None:
    """Send a Celery task by its name, for code below the tasks that must not import them (the
    tasks import it). Run eagerly where the task is loaded and the app says so (tests)."""
    task = current_app.tasks.get(name)
    if task is not None:
        task.apply_async(args=args, **options)
    else:
        current_app.send_task(name, args=args, **options)
