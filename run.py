from app import create_app

app = create_app()

if __name__ == "__main__":
    import os

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print(f"专技继续教育平台: http://{host}:{port}/", flush=True)
    app.run(host=host, port=port, debug=False)
